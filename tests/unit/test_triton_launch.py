"""How containers of the serving image start: the server's command and one-shot runs."""

from __future__ import annotations

import importlib.util

import pytest
from ansible.errors import AnsibleFilterError
from conftest import REPO

from ansible_collections.trtllm.deploy.plugins.filter.triton_launch import triton_server_command
from ansible_collections.trtllm.deploy.plugins.module_utils import triton_ready as tr

LAUNCH = REPO / "testbed/sim/upstream/tensorrtllm_backend/scripts/launch_triton_server.py"
REPO_DIR = "/tensorrtllm_backend/triton_model_repo"


def launch_script():
    spec = importlib.util.spec_from_file_location("launch_triton_server", LAUNCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("world_size", [1, 2, 4])
def test_the_server_command_is_the_launch_scripts_without_its_log(world_size):
    script = launch_script().get_cmd(world_size, "/opt/tritonserver/bin/tritonserver", "8001", "8000", "8002",
                                     REPO_DIR, False, "triton_log.txt", "tensorrt_llm")
    ours = triton_server_command(world_size, REPO_DIR, 8000, 8001, 8002)
    assert ours == script
    assert ours.count("--model-control-mode=explicit") == world_size - 1
    assert [a for a in ours if a.startswith("--backend-config")] == [
        f"--backend-config=python,shm-region-prefix-name=prefix{i}_" for i in range(world_size)]
    assert not any(a.startswith("--log") for a in ours)


def test_a_world_size_below_one_is_refused():
    with pytest.raises(AnsibleFilterError, match="world_size must be at least 1"):
        triton_server_command(0, REPO_DIR, 8000, 8001, 8002)


CLUSTER = {"hosts": ["10.0.0.1", "10.0.0.2"], "slots": 1, "ssh_port": 2233, "key": "/etc/trtllm-cluster/id",
           "known_hosts": "/etc/trtllm-cluster/known_hosts", "interface": "eth1"}


def test_a_cluster_command_launches_ranks_over_the_members_with_rank0s_flags_of_nvidias_guides():
    ours = triton_server_command(2, REPO_DIR, 8000, 8001, 8002, cluster=CLUSTER)
    first_rank = ours.index("-n")
    options = ours[2:first_rank]
    assert ours[:2] == ["mpirun", "--allow-run-as-root"]
    assert options[options.index("--host") + 1] == "10.0.0.1:1,10.0.0.2:1"
    assert "plm_rsh_agent" in options and options[options.index("plm_rsh_agent") + 1] == "ssh"
    assert options[options.index("plm_rsh_args") + 1] == (
        "-p 2233 -i /etc/trtllm-cluster/id -o UserKnownHostsFile=/etc/trtllm-cluster/known_hosts "
        "-o StrictHostKeyChecking=yes -o BatchMode=yes")
    for pair in (["btl_tcp_if_include", "eth1"], ["oob_tcp_if_include", "eth1"]):
        assert options[options.index(pair[0]):options.index(pair[0]) + 2] == pair
    ranks = " ".join(ours[first_rank:]).split(" : ")
    # -x belongs to its app context in an MPMD command line: every rank gets the environment and NCCL's interface.
    for rank in ranks:
        assert rank.startswith("-n 1 -x NCCL_SOCKET_IFNAME=eth1 -x PATH -x LD_LIBRARY_PATH /opt/tritonserver/"), rank
    assert "--allow-http=false" not in ranks[0] and "--model-control-mode" not in ranks[0]
    assert all(flag in ranks[1] for flag in ("--allow-http=false", "--allow-grpc=false", "--allow-metrics=false",
                                             "--model-control-mode=explicit", "--load-model=tensorrt_llm"))
    # The single-host command is r24.04's, unchanged.
    exported = {"-x", "NCCL_SOCKET_IFNAME=eth1", "PATH", "LD_LIBRARY_PATH"}
    assert triton_server_command(2, REPO_DIR, 8000, 8001, 8002) == ours[:2] + [
        a for a in ours[first_rank:]
        if a not in ("--allow-http=false", "--allow-grpc=false", "--allow-metrics=false", *exported)]


def test_without_an_interface_mpi_and_nccl_leave_out_loopback_and_docker_and_the_prefix_is_passed():
    ours = triton_server_command(2, REPO_DIR, 8000, 8001, 8002,
                                 cluster=dict(CLUSTER, interface="", mpi_prefix="/opt/hpcx/ompi"))
    options = ours[2:ours.index("-n")]
    for pair in (["btl_tcp_if_exclude", "lo,docker0"], ["oob_tcp_if_exclude", "lo,docker0"],
                 ["--prefix", "/opt/hpcx/ompi"]):
        assert options[options.index(pair[0]):options.index(pair[0]) + 2] == pair
    assert "btl_tcp_if_include" not in options
    assert all(rank.startswith("-n 1 -x NCCL_SOCKET_IFNAME=^docker,lo ") for rank in " ".join(
        ours[ours.index("-n"):]).split(" : "))


def test_a_cluster_whose_hosts_and_slots_do_not_make_the_world_size_is_refused():
    with pytest.raises(AnsibleFilterError, match="2 hosts x 2 GPUs is 4 ranks, not the world size 2"):
        triton_server_command(2, REPO_DIR, 8000, 8001, 8002, cluster=dict(CLUSTER, slots=2))
    with pytest.raises(AnsibleFilterError, match="at least two hosts"):
        triton_server_command(2, REPO_DIR, 8000, 8001, 8002, cluster=dict(CLUSTER, hosts=["10.0.0.1"]))


RUNNING = {"State": {"Status": "running", "Running": True, "ExitCode": 0, "StartedAt": "t1"}, "RestartCount": 0,
           "Id": "abcdef0123456789"}


def test_a_server_that_died_is_seen_even_when_docker_already_restarted_it():
    before = tr.container_state(RUNNING)
    assert tr.died(before, before) is None
    again = tr.container_state(dict(RUNNING, RestartCount=1, State=dict(RUNNING["State"], StartedAt="t2")))
    assert tr.died(before, again) == "exited and was restarted by Docker (1 restart(s) in all)"
    stopped = tr.container_state(dict(RUNNING, State={"Status": "exited", "Running": False, "ExitCode": 137,
                                                      "StartedAt": "t1"}))
    assert tr.died(before, stopped) == "is exited (exit code 137)"
    backing_off = tr.container_state(dict(RUNNING, State=dict(RUNNING["State"], Restarting=True, ExitCode=1)))
    assert tr.died(before, backing_off) == "exited with code 1 and Docker is restarting it"


def test_the_error_lines_of_a_failed_load_are_quoted_and_noise_left_out():
    log = "\n".join([
        "I1201 22:05:27.1 1 server.cc:677] Started",
        "W1201 22:05:27.2 1 pinned_memory_manager.cc:273] Unable to allocate pinned system memory",
        "E1201 22:05:27.3 1 model_lifecycle.cc:641] failed to load 'tensorrt_llm' version 1: Internal: "
        "[TensorRT-LLM][ERROR] /models/e/rank0.engine cannot be read",
        "E1201 22:05:27.4 1 cuda_driver.cc:1] CudaDriverHelper has not been initialized",
        "mpirun noticed that process rank 0 with PID 0 on node n exited on signal 9 (Killed).",
    ])
    assert tr.error_lines(log) == [log.splitlines()[2], log.splitlines()[4]]


def test_models_not_ready_are_named_with_their_state():
    index = [{"name": "ensemble", "state": "READY"}, {"name": "tensorrt_llm", "state": "UNAVAILABLE"}]
    assert tr.not_ready(index, ["ensemble", "tensorrt_llm", "preprocessing"]) == {
        "tensorrt_llm": "UNAVAILABLE", "preprocessing": "MISSING"}
