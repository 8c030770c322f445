"""One instance over two 1-GPU nodes (tp 2): rank 0 serves what one 2-GPU node serves, only rank 0 listens, the
instance falls with a member's rank and comes back, the private key stays on rank 0's host, and a member rank 0
cannot reach fails the preflight by name before anything changes."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import testinfra

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from node_http import triton  # noqa: E402

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
RANK0, MEMBER, REFERENCE = "trtllm-mol-mn-0", "trtllm-mol-mn-1", "trtllm-mol-mn-ref"
KEY = "/etc/trtllm-deploy/cluster/id_ed25519"
PROMPTS = ["What is machine learning?", "Name three colours.", "Write a haiku about GPUs.", "2 + 2 ="]


def node(name):
    # The nodes are logged into as their unprivileged user (the scenario's inventory): root through its sudo.
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={INVENTORY}", sudo=True)


def generate(name, prompt, max_tokens=24):
    """The answer's text and its log probs: the stand-in model's layers change the log probs, not the greedy
    choice, so a rank whose share is lost shows in them. End id 2 runs the answer to max_tokens."""
    body = {"text_input": prompt, "max_tokens": max_tokens, "bad_words": "", "stop_words": "", "pad_id": 2, "end_id": 2,
            "return_log_probs": True}
    answer = triton(node(name), "/v2/models/ensemble/generate", body)
    return answer["text_output"], answer["output_log_probs"]


def same(one, other):
    """The same text, and log probs within float noise of each other."""
    return one[0] == other[0] and len(one[1]) == len(other[1]) and \
        all(abs(a - b) < 1e-3 for a, b in zip(one[1], other[1], strict=True))


def cmdlines(name, container="triton_server"):
    """Whole command lines of the processes in the node's serving container."""
    script = ("import glob\nfor p in glob.glob('/proc/[0-9]*/cmdline'):\n    try:\n"
              "        print(open(p, 'rb').read().replace(bytes(1), b' ').decode().strip())\n"
              "    except OSError:\n        pass\n")
    return node(name).check_output("docker exec %s python3 -c %s", container, script).splitlines()


def listens(name, port=8000):
    """Whether something on the node listens on the TCP port (its /proc/net/tcp, host network)."""
    table = node(name).check_output("cat /proc/net/tcp /proc/net/tcp6")
    return any(f":{port:04X} " in line and line.split()[3] == "0A" for line in table.splitlines()[1:])


def ready(name):
    result = node(name).run("python3 -c \"import urllib.request as u; u.urlopen('http://127.0.0.1:8000/v2/health/"
                            "ready', timeout=5)\"")
    return result.rc == 0


def test_rank0_answers_what_tp2_on_one_node_answers():
    for prompt in PROMPTS:
        assert same(generate(RANK0, prompt), generate(REFERENCE, prompt)), prompt


def test_the_ranks_run_on_both_members_and_only_rank0_listens():
    leader = [p for p in cmdlines(RANK0) if p.startswith("mpirun ")]
    assert len(leader) == 1 and "--host" in leader[0] and "plm_rsh_agent ssh" in leader[0], leader
    ranks = [p for p in cmdlines(MEMBER) if p.startswith("/opt/tritonserver/bin/tritonserver")]
    assert len(ranks) == 1 and "--allow-http=false" in ranks[0] and "--load-model=tensorrt_llm" in ranks[0], ranks
    assert any("/usr/sbin/sshd -D -e -f /etc/trtllm-cluster/sshd_config" in p for p in cmdlines(MEMBER))
    assert listens(RANK0) and not listens(MEMBER)
    assert not [p for p in cmdlines(RANK0) if p.startswith("/opt/tritonserver/bin/tritonserver")
                and "--allow-http=false" in p], "rank 0 runs no rank of its own with HTTP off"


ENGINE = "/root/models/trt/Tiny-Llama-Sim-trt-engine"
MANIFEST = "trtllm-deploy-manifest.json"


def engine_state(name):
    host = node(name)
    config = json.loads(host.file(f"{ENGINE}/config.json").content_string)
    manifest = json.loads(host.file(f"{ENGINE}/{MANIFEST}").content_string)
    return sorted(host.check_output(f"ls {ENGINE}").split()), config["build_config"]["plugin_config"], manifest


def test_the_cluster_engine_has_no_custom_all_reduce_and_a_member_holds_only_its_ranks():
    leader_files, leader_plugins, leader_manifest = engine_state(RANK0)
    member_files, member_plugins, member_manifest = engine_state(MEMBER)
    ref_files, ref_plugins, ref_manifest = engine_state(REFERENCE)
    # One build for the cluster's key (its ranks span hosts: custom all-reduce off, in the key), one for the reference.
    assert leader_plugins["use_custom_all_reduce"] is False and member_plugins["use_custom_all_reduce"] is False
    assert ref_plugins["use_custom_all_reduce"] is True and ref_manifest["key"] != leader_manifest["key"]
    assert leader_manifest["inputs"]["build_options"]["custom_all_reduce"] is False
    assert "custom_all_reduce" not in ref_manifest["inputs"]["build_options"]
    assert member_manifest == leader_manifest and leader_manifest["origin"] == RANK0
    # The builder holds every rank; the member received only what it serves.
    assert leader_files == ["config.json", "rank0.engine", "rank1.engine", MANIFEST]
    assert member_files == ["config.json", "rank1.engine", MANIFEST]


def test_mpirun_needs_the_images_prefix_to_start_its_daemons_over_ssh():
    """Open MPI lies where NGC's images keep it (/opt/hpcx/ompi), found only through the image's ENV: an ssh
    session does not get it, so without --prefix the member's shell finds no orted."""
    script = ("import glob, json\nfor p in glob.glob('/proc/[0-9]*/cmdline'):\n    try:\n"
              "        argv = open(p, 'rb').read().split(bytes(1))[:-1]\n    except OSError:\n        continue\n"
              "    if argv and argv[0] == b'mpirun':\n        print(json.dumps([a.decode() for a in argv]))\n")
    words = json.loads(node(RANK0).check_output("docker exec triton_server python3 -c %s", script).splitlines()[0])
    leader = " ".join(words)
    assert "--prefix /opt/hpcx/ompi" in leader and "btl_tcp_if_exclude lo,docker0" in leader, leader
    options = words[1:words.index("-n")]
    # The same launch of `hostname` on both hosts, with and without --prefix.
    argv = ["docker", "exec", "triton_server", "timeout", "120", "mpirun", *options, "-n", "2", "hostname"]
    unprefixed = [w for i, w in enumerate(argv) if w != "--prefix" and (i == 0 or argv[i - 1] != "--prefix")]
    ok = node(RANK0).run(" ".join(f"'{w}'" for w in argv))
    assert ok.rc == 0, ok.stdout + ok.stderr
    bad = node(RANK0).run(" ".join(f"'{w}'" for w in unprefixed))
    said = bad.stdout + bad.stderr
    assert bad.rc != 0 and "orted: command not found" in said, said[-2000:]
    assert "ORTE was unable to reliably start one or more daemons" in said, said[-2000:]


def test_status_says_rank0_serves_and_the_member_answers_through_it(tmp_path):
    command = [str(Path(sys.executable).parent / "trtllm-deploy"), "status", "-i", str(Path(INVENTORY).parent),
               "--plain", "--artifacts", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    print(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {line.split()[0]: line.split() for line in done.stdout.splitlines() if line.startswith("trtllm-mol-mn")}
    assert rows[RANK0][4] == "5/5" and rows[RANK0][-1] == "yes"
    assert rows[MEMBER][1] == "running" and rows[MEMBER][4:] == ["-", "rank", "0:", RANK0, "via", "rank", "0"]


def test_the_private_key_stays_on_rank0s_host_and_in_no_artifact_argument_list_or_log(tmp_path):
    rank0 = node(RANK0)
    assert rank0.file(KEY).mode == 0o600 and rank0.file(KEY).user == "root"
    secret = "".join(line for line in rank0.file(KEY).content_string.splitlines() if "PRIVATE KEY" not in line)
    assert len(secret) > 40
    assert not node(MEMBER).file(KEY).exists
    # A deploy through the CLI: nothing to change, and its artifacts (every event, the report) hold no key.
    command = [str(Path(sys.executable).parent / "trtllm-deploy"), "deploy", "-i", str(Path(INVENTORY).parent),
               "--plain", "--artifacts", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(next(tmp_path.glob("*-site-*/report.json")).read_text())
    assert {name: host["changed"] for name, host in report["hosts"].items()} == {
        RANK0: 0, MEMBER: 0, REFERENCE: 0}
    chunks = [secret[i:i + 40] for i in range(0, len(secret) - 40, 40)]
    for path in tmp_path.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert not any(chunk in text for chunk in chunks), path
    assert not any(chunk in done.stdout + done.stderr for chunk in chunks)
    for name in (RANK0, MEMBER):
        host = node(name)
        haystack = "\n".join(cmdlines(name)) + host.check_output("docker inspect triton_server")
        haystack += host.check_output("docker logs triton_server 2>&1 | tail -n 2000")
        assert not any(chunk in haystack for chunk in chunks), name


def wait(condition, seconds, what):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} not within {seconds}s"
        time.sleep(0.5)
    return seconds - (deadline - time.monotonic())


def test_a_killed_rank_on_the_member_brings_the_instance_down_and_back():
    rank0 = node(RANK0)
    started = rank0.check_output("docker inspect -f '{{.State.StartedAt}}' triton_server")
    node(MEMBER).check_output("docker exec triton_server pkill -9 -x tritonserver")
    down = wait(lambda: not ready(RANK0), 60, "rank 0 down")
    back = wait(lambda: ready(RANK0), 300, "rank 0 serving again")
    print(f"member's rank killed: rank 0 down after {down:.1f}s, serving again {back:.1f}s later")
    assert rank0.check_output("docker inspect -f '{{.State.StartedAt}}' triton_server") != started, \
        "Docker restarted rank 0's container (mpirun ended with the job)"
    assert same(generate(RANK0, PROMPTS[0]), generate(REFERENCE, PROMPTS[0]))


def test_an_engine_with_custom_all_reduce_does_not_load_across_hosts():
    """TensorRT-LLM 0.9.0's default engine (custom all-reduce on) cannot load when its ranks span hosts: each rank
    opens its peers' CUDA IPC memory. Shown by turning the flag on in the served engine's config on both members."""
    config = f"{ENGINE}/config.json"
    flip = ("import json, sys; p = sys.argv[1]; c = json.load(open(p)); "
            "c['build_config']['plugin_config']['use_custom_all_reduce'] = sys.argv[2] == 'on'; "
            "json.dump(c, open(p, 'w'))")
    for name in (RANK0, MEMBER):
        node(name).check_output(f"cp -p {config} {config}.kept")
    try:
        for name in (RANK0, MEMBER):
            node(name).check_output("python3 -c %s %s on", flip, config)
        node(RANK0).check_output("docker restart triton_server")
        wait(lambda: "cudaIpcOpenMemHandle" in node(RANK0).check_output("docker logs triton_server 2>&1 | tail -n 400"),
             300, "the IPC refusal in rank 0's log")
        assert not ready(RANK0)
    finally:
        for name in (RANK0, MEMBER):
            node(name).check_output(f"mv {config}.kept {config}")
        node(RANK0).check_output("docker restart triton_server")
    wait(lambda: ready(RANK0), 300, "rank 0 serving again")


def test_a_member_rank0_cannot_reach_fails_the_preflight_by_name_before_anything_changes():
    rank0, member = node(RANK0), node(MEMBER)
    # The node's own address (eth0), not its Docker engine's bridge, which every node has alike.
    address = rank0.check_output("ip -4 -o addr show dev eth0").split()[3].split("/")[0]
    containers = {name: node(name).check_output("docker inspect -f '{{.Id}} {{.State.StartedAt}}' triton_server")
                  for name in (RANK0, MEMBER)}
    # The member drops everything from rank 0's address, as a firewall would.
    member.check_output(f"nft add table inet trtllm_test && nft add chain inet trtllm_test input "
                        f"'{{ type filter hook input priority 0; }}' && nft add rule inet trtllm_test input "
                        f"ip saddr {address} drop")
    try:
        run = subprocess.run(["ansible-playbook", "playbooks/site.yml", "-i", str(Path(INVENTORY).parent),
                              "-e", "trtllm_max_batch_size=128"], cwd=PROJECT, capture_output=True, text=True,
                             timeout=900)
    finally:
        member.check_output("nft delete table inet trtllm_test")
    assert run.returncode != 0
    said = run.stdout + run.stderr
    assert f"{MEMBER}" in said and "2233" in said and "did not answer" in said, said[-3000:]
    for name, before in containers.items():
        assert node(name).check_output("docker inspect -f '{{.Id}} {{.State.StartedAt}}' triton_server") == before
    config = rank0.file("/opt/trtllm/tensorrtllm_backend/triton_model_repo/tensorrt_llm/config.pbtxt").content_string
    assert "max_batch_size: 128" not in config
