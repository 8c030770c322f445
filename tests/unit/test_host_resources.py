"""host_resources' pure parts (free disk of a path to be created, listening sockets) and host_preflight."""

from __future__ import annotations

import os
import socket

from ansible_collections.trtllm.deploy.plugins.filter.host_preflight import host_preflight
from ansible_collections.trtllm.deploy.plugins.filter.preflight import length_problems, weight_bytes
from ansible_collections.trtllm.deploy.plugins.module_utils.host_resources import (
    disk,
    listening_ports,
    nearest_existing,
    ports_in_use,
)

# The header and two rows of a real /proc/net/tcp: one socket listening on 0.0.0.0:8000 (0x1F40), one
# established connection from port 8001 (0x1F41), which is not a listener.
PROC_NET_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 40123 1 0 100 0 0 10 0
   1: 0100007F:1F41 0100007F:9C4E 01 00000000:00000000 00:00000000 00000000     0        0 40124 1 0 20 4 30 10 -1
"""
GIB = 1024**3


def test_listening_ports_reads_only_listeners():
    assert listening_ports(PROC_NET_TCP) == {8000: "40123"}


def test_a_path_to_be_created_is_measured_on_its_closest_ancestor(tmp_path):
    target = tmp_path / "models" / "engine"
    assert nearest_existing(str(target)) == str(tmp_path)
    entry = disk(str(target))
    assert entry["exists"] is False and entry["checked"] == str(tmp_path)
    stats = os.statvfs(tmp_path)
    assert entry["free_bytes"] == stats.f_bavail * stats.f_frsize
    assert entry["device"] == os.stat(tmp_path).st_dev


def test_a_port_this_process_listens_on_is_seen_with_its_owner():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        busy = ports_in_use([port])
        assert [b["port"] for b in busy] == [port]
        assert busy[0]["pid"] == os.getpid()
    assert ports_in_use([port]) == []


def resources(free, *exists, running=False, busy=()):
    return {"disk": [{"path": f"/m/{i}", "exists": e, "checked": "/m", "device": 7, "free_bytes": free}
                     for i, e in enumerate(exists)],
            "container_running": running, "ports_in_use": list(busy)}


def test_artifacts_to_be_written_on_one_file_system_add_up():
    problems = host_preflight(resources(25 * GIB, False, False), 15 * GIB, ["checkpoint", "engine"])
    assert problems == ["/m has 25.0 GiB free; what is to be written there needs about 30.0 GiB (the checkpoint "
                        "15.0, the engine 15.0 GiB)"]
    assert host_preflight(resources(31 * GIB, False, False), 15 * GIB, ["checkpoint", "engine"]) == []


def test_sizes_per_path_add_up():
    problems = host_preflight(resources(20 * GIB, False, True, False), [16 * GIB, 15 * GIB, 15 * GIB],
                              ["model", "checkpoint", "engine"])
    assert problems == ["/m has 20.0 GiB free; what is to be written there needs about 31.0 GiB (the model 16.0, "
                        "the engine 15.0 GiB)"]


def test_artifacts_already_there_need_no_room():
    assert host_preflight(resources(1 * GIB, True, True), 15 * GIB, ["checkpoint", "engine"]) == []
    assert host_preflight(resources(16 * GIB, True, False), 15 * GIB, ["checkpoint", "engine"]) == []


def test_a_busy_port_is_refused_unless_the_own_server_holds_it():
    busy = [{"port": 8000, "pid": 912, "process": "nginx"}]
    assert host_preflight(resources(GIB, True, busy=busy), 1) == [
        "port 8000 is already in use by nginx (pid 912): Triton could not listen on it "
        "(stop that process or choose other trtllm_*_port values)"]
    assert host_preflight(resources(GIB, True, running=True, busy=busy), 1) == []


def test_lengths_beyond_the_models_positions_are_refused():
    config = {"max_position_embeddings": 8192}
    assert length_problems(config, 2048, 1024) == []
    assert length_problems(config, 8000, 1024) == [
        "max_input_len 8000 + max_output_len 1024 = 9024 exceeds the model's max_position_embeddings 8192 "
        "(config.json): lower trtllm_max_input_len or trtllm_max_output_len"]
    assert length_problems({}, 8000, 1024) == []


def test_weight_bytes_of_llama3_8b_in_float16():
    config = {"hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
              "intermediate_size": 14336, "vocab_size": 128256}
    assert round(weight_bytes(config, "float16") / 1e9, 1) == 16.1


def test_reach_tells_a_listener_a_refusal_and_no_answer_apart(monkeypatch):
    import errno

    from ansible_collections.trtllm.deploy.plugins.module_utils import host_resources
    from ansible_collections.trtllm.deploy.plugins.module_utils.host_resources import reach

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        assert reach("127.0.0.1", port)["state"] == "open"
    assert reach("127.0.0.1", port)["state"] == "refused", "the host answered: reachable, nothing listens"
    # No network beyond loopback here: what the socket says of a filtered or routeless address.
    for error, said in ((TimeoutError(), "timed out"), (OSError(errno.EHOSTUNREACH, "No route to host"),
                                                         "No route to host")):
        def fail(*args, error=error, **kwargs):
            raise error
        monkeypatch.setattr(host_resources.socket, "create_connection", fail)
        assert reach("10.0.0.2", 2233) == {"address": "10.0.0.2", "port": 2233, "state": "unreachable", "error": said}
