"""A fleet after site.yml: one build per engine key, copies checked, every host serving."""

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import testinfra
import testinfra.utils.ansible_runner

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from controller_load import measure  # noqa: E402
from node_http import triton  # noqa: E402

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(INVENTORY).get_hosts("gpu_nodes")

ENGINE = "/root/models/trt/Tiny-Llama-Sim-trt-engine"
CHECKPOINT = "/root/models/trt/Tiny-Llama-Sim-trt-ckpt"
MODEL = "/root/models/trt/Tiny-Llama-Sim"
REQUEST = {"text_input": "What is machine learning?", "max_tokens": 20, "bad_words": "", "stop_words": "",
           "pad_id": 2, "end_id": 2}


def node(name):
    # The nodes are logged into as their unprivileged user (the scenario's inventory): root through its sudo.
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={INVENTORY}", sudo=True)


def engine_state(name):
    host = node(name)
    return {
        "manifest": json.loads(host.file(f"{ENGINE}/trtllm-deploy-manifest.json").content_string),
        "converted": host.file(f"{CHECKPOINT}/trtllm-deploy-manifest.json").exists,
    }


def test_one_build_per_key_and_copies_elsewhere():
    fleet = {name: engine_state(name) for name in ("trtllm-mol-fleet-tp2", "trtllm-mol-fleet-1", "trtllm-mol-fleet-2")}
    keys = {name: state["manifest"]["key"] for name, state in fleet.items()}
    assert keys["trtllm-mol-fleet-1"] == keys["trtllm-mol-fleet-2"] != keys["trtllm-mol-fleet-tp2"]
    assert fleet["trtllm-mol-fleet-tp2"]["manifest"]["inputs"]["checkpoint"]["inputs"]["tp_size"] == 2

    builders = sorted(name for name, state in fleet.items() if state["converted"])
    origins = sorted({state["manifest"]["origin"] for state in fleet.values()})
    assert builders == origins, "only the hosts named as origin converted and built"
    assert len(builders) == 2 and "trtllm-mol-fleet-tp2" in builders

    one, two = fleet["trtllm-mol-fleet-1"], fleet["trtllm-mol-fleet-2"]
    assert one["manifest"] == two["manifest"], "the receiver's manifest is the builder's (copied, not rebuilt)"


def test_the_weights_come_once_per_key_and_the_receiver_gets_the_tokenizer_only():
    names = ("trtllm-mol-fleet-tp2", "trtllm-mol-fleet-1", "trtllm-mol-fleet-2")
    held = {}
    for name in names:
        files = node(name).check_output(f"ls {MODEL}").split()
        assert {"config.json", "tokenizer.json", "tokenizer_config.json"} <= set(files), files
        held[name] = sorted(f for f in files if f.endswith(".safetensors"))
    assert held["trtllm-mol-fleet-2"] == [] and held["trtllm-mol-fleet-1"] == held["trtllm-mol-fleet-tp2"] != []

    # What the stand-in Hub served to each node since prepare.yml reset its counters.
    with urllib.request.urlopen("http://127.0.0.1:5100/_testbed/stats", timeout=10) as answer:
        clients = json.load(answer)["clients"]
    fetched = {}
    for name in names:
        address = subprocess.run(["docker", "inspect", "-f", "{{.NetworkSettings.IPAddress}}", name],
                                 capture_output=True, text=True, check=True).stdout.strip()
        files = clients.get(address, {}).get("files", {})
        fetched[name] = {"weights": sum(b for f, b in files.items() if f and f.endswith(".safetensors")),
                         "other": sum(b for f, b in files.items() if f and not f.endswith(".safetensors"))}
    print("bytes from the stand-in Hub per node:", json.dumps(fetched))
    assert fetched["trtllm-mol-fleet-2"]["weights"] == 0 < fetched["trtllm-mol-fleet-2"]["other"]
    assert fetched["trtllm-mol-fleet-1"]["weights"] > 0 and fetched["trtllm-mol-fleet-tp2"]["weights"] > 0


def test_engine_files_match_the_manifest(host):
    manifest = json.loads(host.file(f"{ENGINE}/trtllm-deploy-manifest.json").content_string)
    for name, entry in manifest["files"].items():
        assert host.file(f"{ENGINE}/{name}").sha256sum == entry["sha256"], name
    ranks = manifest["inputs"]["checkpoint"]["inputs"]["tp_size"]
    assert sorted(n for n in manifest["files"] if n.endswith(".engine")) == [f"rank{r}.engine" for r in range(ranks)]
    assert not host.file("/root/models/trt/.Tiny-Llama-Sim-trt-engine.incoming").exists


def test_every_host_answers_generate(host):
    answer = triton(host, "/v2/models/ensemble/generate", REQUEST)
    assert answer["text_output"].strip()
    tp = json.loads(host.file(f"{ENGINE}/config.json").content_string)["pretrained_config"]["mapping"]["tp_size"]
    assert host.check_output("docker exec triton_server pgrep -c -x tritonserver") == str(tp), "one rank per GPU"


def test_no_copy_is_left_half_way_and_no_transfer_server_outlives_its_round(host):
    """Copies went host to host: nothing of them stays (no staging directory, nothing listening on the
    transfer port)."""
    assert not [n for n in host.check_output("ls -A /root/models/trt").split() if ".incoming" in n]
    assert not listens_on(host, 8095), "a transfer server still listens on engine_build_transfer_port"


def listens_on(host, port: int) -> bool:
    table = host.check_output("cat /proc/net/tcp /proc/net/tcp6")
    return any(f":{port:04X} " in line and line.split()[3] == "0A" for line in table.splitlines()[1:])


def test_a_shallow_checkout_has_what_the_deployment_uses_and_nothing_more():
    backend = "/opt/trtllm/tensorrtllm_backend"
    shallow, full = node("trtllm-mol-fleet-tp2"), node("trtllm-mol-fleet-1")
    for repo in (backend, f"{backend}/tensorrt_llm"):
        assert shallow.check_output(f"git -C {repo} rev-parse --is-shallow-repository") == "true", repo
        assert full.check_output(f"git -C {repo} rev-parse --is-shallow-repository") == "false", repo
    assert shallow.file(f"{backend}/tensorrt_llm/examples/llama/convert_checkpoint.py").exists
    assert not shallow.file(f"{backend}/tensorrt_llm/3rdparty/json/README.md").exists
    assert " - cpp/tensorrt_llm/batch_manager/" in shallow.check_output(f"git -C {backend}/tensorrt_llm lfs ls-files")
    assert " * cpp/tensorrt_llm/batch_manager/" in full.check_output(f"git -C {backend}/tensorrt_llm lfs ls-files")


BALANCER = "trtllm-mol-fleet-lb"
# HAProxy's `show stat` through its runtime API on the balancer: one line per server, name and status.
SHOW_STAT = """import csv, socket
s = socket.socket(socket.AF_UNIX)
s.connect('/run/haproxy/admin.sock')
s.sendall(b'show stat\\n')
data = b''
while chunk := s.recv(65536):
    data += chunk
for r in csv.DictReader(data.decode().lstrip('# ').splitlines()):
    if r['pxname'] == 'triton_http' and r['svname'] not in ('FRONTEND', 'BACKEND'):
        print(r['svname'], r['status'].split(' ')[0])
"""
GENERATE = """import json, sys, urllib.request
r = urllib.request.Request('http://127.0.0.1:8000/v2/models/ensemble/generate', data=sys.argv[1].encode())
print(urllib.request.urlopen(r, timeout=60).read().decode())
"""


def on_balancer(*argv: str) -> str:
    return subprocess.run(["docker", "exec", BALANCER, *argv], capture_output=True, text=True, check=True).stdout


def balancer_servers() -> dict:
    return dict(line.split() for line in on_balancer("python3", "-c", SHOW_STAT).splitlines())


def wait_for_status(server: str, status: str, seconds: float) -> float:
    started = time.monotonic()
    while balancer_servers().get(server) != status:
        assert time.monotonic() - started < seconds, f"{server} not {status} within {seconds}s: {balancer_servers()}"
        time.sleep(0.2)
    return time.monotonic() - started


def test_the_balancer_checks_every_serving_host_and_answers_for_the_fleet():
    assert balancer_servers() == {n: "UP" for n in ("trtllm-mol-fleet-1", "trtllm-mol-fleet-2", "trtllm-mol-fleet-tp2")}
    config = on_balancer("cat", "/etc/haproxy/haproxy.cfg")
    assert "balance leastconn" in config and "option httpchk GET /v2/health/ready" in config
    assert "stats socket /run/haproxy/admin.sock mode 660 level admin" in config
    answer = json.loads(on_balancer("python3", "-c", GENERATE, json.dumps(REQUEST)))
    assert answer["text_output"]


def test_status_shows_the_fleets_endpoint_and_every_backends_state(tmp_path):
    """`trtllm-deploy status` over the scenario's inventory: the GPU hosts serve, and the balancer's table says
    where the fleet is reached and that HAProxy has every host UP."""
    command = [str(Path(sys.executable).parent / "trtllm-deploy"), "status", "-i", str(Path(INVENTORY).parent),
               "--plain", "--artifacts", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(next(tmp_path.glob("*/report.json")).read_text())
    balancer = report["hosts"][BALANCER]["balancer"]
    address = on_balancer("hostname", "-I").split()[0]
    assert balancer["endpoint"] == f"http://{address}:8000" and balancer["grpc_endpoint"] == f"{address}:8001"
    assert {name: server["status"] for name, server in balancer["servers"].items()} == {
        n: "UP" for n in ("trtllm-mol-fleet-1", "trtllm-mol-fleet-2", "trtllm-mol-fleet-tp2")}
    rows = [line.split() for line in done.stdout.splitlines() if line.startswith(BALANCER)]
    assert sorted((row[1], row[4], row[5]) for row in rows) == [
        (f"http://{address}:8000", n, "UP")
        for n in ("trtllm-mol-fleet-1", "trtllm-mol-fleet-2", "trtllm-mol-fleet-tp2")]


SET_STATE = """import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect('/run/haproxy/admin.sock')
s.sendall(f'set server triton_http/{sys.argv[1]} state {sys.argv[2]}\\n'.encode())
print(s.recv(4096).decode())
"""


def load_balancer_playbook(*extra: str) -> str:
    done = subprocess.run(["ansible-playbook", "playbooks/load_balancer.yml", "-i", str(Path(INVENTORY).parent),
                           *extra], cwd=os.environ["MOLECULE_PROJECT_DIRECTORY"], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    return done.stdout


def test_a_server_in_maintenance_stays_so_across_a_reload_of_a_changed_configuration():
    server = "trtllm-mol-fleet-2"
    before = on_balancer("pidof", "haproxy").split()
    on_balancer("python3", "-c", SET_STATE, server, "maint")
    try:
        assert balancer_servers()[server] == "MAINT"
        # A changed configuration (the health check's interval) reloads HAProxy through the role's handlers.
        output = load_balancer_playbook("-e", "load_balancer_check_interval_ms=1100")
        assert "RUNNING HANDLER [trtllm.deploy.load_balancer : Reload HAProxy]" in output
        assert set(on_balancer("pidof", "haproxy").split()).isdisjoint(before), "HAProxy was not reloaded"
        assert "inter 1100ms" in on_balancer("cat", "/etc/haproxy/haproxy.cfg")
        assert balancer_servers()[server] == "MAINT", balancer_servers()
    finally:
        on_balancer("python3", "-c", SET_STATE, server, "ready")
        load_balancer_playbook()
    wait_for_status(server, "UP", 60)


def test_grpc_through_the_balancer_reaches_a_ready_ensemble():
    import tritonclient.grpc as grpcclient

    config = on_balancer("cat", "/etc/haproxy/haproxy.cfg")
    assert "frontend triton_grpc" in config and "check port 8000" in config
    address = on_balancer("hostname", "-I").split()[0]
    client = grpcclient.InferenceServerClient(f"{address}:8001")
    assert client.is_server_ready() and client.is_model_ready("ensemble")
    assert client.get_model_metadata("ensemble").name == "ensemble"


def test_a_killed_backend_is_taken_out_by_the_health_check_and_comes_back():
    # The server's container restarts it (the serving path's supervision); HAProxy sees it go and come back.
    subprocess.run(["docker", "exec", "trtllm-mol-fleet-2", "docker", "exec", "triton_server", "pkill", "-9", "-x",
                    "tritonserver"], check=True)
    out = wait_for_status("trtllm-mol-fleet-2", "DOWN", 30)
    back = wait_for_status("trtllm-mol-fleet-2", "UP", 300)
    print(f"killed backend: DOWN after {out:.1f}s, UP again {back:.1f}s later")
    assert balancer_servers()["trtllm-mol-fleet-1"] == "UP"


def test_an_engine_of_2_gib_goes_host_to_host_through_no_controller_memory():
    """With become (as inventories/fleet logs in), a 2 GiB engine moves host to host: the controller's processes
    (none at idle) peak under 300 MiB and read and write under 512 MiB, a quarter of one copy. ansible-core's fetch
    under become reads the whole file into the controller's memory, base64-encoded: 13.4 GiB at the peak for this
    engine (make benchmark-transfer)."""
    project = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
    run = measure(["ansible-playbook", "molecule/fleet/transfer.yml", "-i", str(Path(INVENTORY).parent),
                   "-e", f"transfer_bytes={2 << 30}"], cwd=project)
    assert run["rc"] == 0, run["output"][-3000:]
    print(f"engine 2 GiB to two hosts: {run['seconds']} s; controller peak memory (PSS) {run['peak_bytes'] >> 20} MiB, "
          f"bytes read and written {run['io_bytes'] >> 20} MiB")
    assert run["peak_bytes"] < 300 << 20
    assert run["io_bytes"] < 512 << 20
    # The first host sent it twice (round 1 to one host, round 2 to the other), each copy checked on arrival.
    assert run["output"].count("sent 2.0 GiB") == 2, run["output"][-3000:]
