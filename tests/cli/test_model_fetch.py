"""A bare node gets its model from the (stand-in) Hugging Face Hub through trtllm-deploy: refusals for a missing
or refused token before anything is written, a dropped download resumed, and the token nowhere it must not be."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import REPO, node_inventory

pytestmark = pytest.mark.docker

NODE = "trtllm-cli-fetch"
MODEL = "/root/models/trt/Tiny-Llama-Sim"
SHARD = "model-00002-of-00002.safetensors"  # the stand-in's shard over one 10 MiB download chunk
CHUNK = 10 * 1024 * 1024  # huggingface_hub 0.22.2's download chunk: what a cut download keeps


# The node's Triton answers ready (the model in place is served).
READY = "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/v2/health/ready', timeout=5)"


def admin(hub: dict, method: str, path: str, body=None) -> dict:
    request = urllib.request.Request(f"{hub['local']}/_testbed/{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)


def served(hub: dict, client: str) -> list[dict]:
    """The stand-in's requests from one address, once none is in flight."""
    deadline = time.monotonic() + 15
    while (stats := admin(hub, "GET", "stats"))["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.1)
    return [r for r in stats["requests"] if r["client"] == client]


def said(artifacts, text: str) -> bool:
    """Whether a task of the latest deploy in the artifacts dir said text (its msg: debug lines stay off the
    console)."""
    run = sorted(artifacts.glob("*-site-*"), key=lambda p: p.name)[-1]
    for event in (run / "job_events").glob("*.json"):
        if text in str(json.loads(event.read_text()).get("event_data", {}).get("res", {}).get("msg", "")):
            return True
    return False


def node(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", "exec", NODE, *argv], capture_output=True, text=True)


@pytest.fixture(scope="module")
def fetch_node(hub):
    playbook = REPO / "tests" / "cli" / "node.yml"
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    subprocess.run(["ansible-playbook", str(playbook), "-e", f"cli_node={NODE}", "-e", "cli_node_prepared=true"],
                   check=True, env=env, cwd=REPO, capture_output=True)
    address = subprocess.run(["docker", "inspect", "-f", "{{.NetworkSettings.IPAddress}}", NODE],
                             capture_output=True, text=True, check=True).stdout.strip()
    yield address
    subprocess.run([sys.executable, str(REPO / "testbed" / "nodes.py"), "remove", NODE], capture_output=True)


@pytest.fixture
def fresh_model(fetch_node, tmp_path):
    """An inventory of the node, with no model, download cache or checkpoint hashes on it."""
    node("rm", "-rf", MODEL, "/root/models/trt/.hf-cache", "/root/models/trt/.Tiny-Llama-Sim.fetching",
         "/opt/trtllm/.checkpoint-hashes")
    (tmp_path / "inventory").mkdir()
    (tmp_path / "inventory" / "group_vars").symlink_to(REPO / "testbed" / "inventories" / "local" / "group_vars")
    return node_inventory(tmp_path / "inventory" / "hosts.yml", {"fetch-node": NODE})


def secret_file(tmp_path, token: str):
    path = tmp_path / "secrets.env"
    path.write_text(f"HF_TOKEN={token}\n")
    path.chmod(0o600)
    return str(path)


def test_no_token_is_refused_naming_hf_token_and_no_model_is_written(cli, fresh_model, hub):
    code, output, _ = cli("deploy", "-i", str(fresh_model), "-e", "model_fetch_hf_token=")
    assert code == 2, output[-3000:]
    assert "meta-llama/Meta-Llama-3-8B-Instruct is gated and no token was given: export HF_TOKEN" in output
    assert "licence" in output
    assert node("test", "-e", MODEL).returncode != 0


def test_a_token_without_access_is_refused_and_no_model_is_written(cli, fresh_model, hub, tmp_path):
    code, output, _ = cli("deploy", "-i", str(fresh_model), "--secret-file",
                          secret_file(tmp_path, hub["token_not_granted"]))
    assert code == 2, output[-3000:]
    assert "meta-llama/Meta-Llama-3-8B-Instruct refused the token in HF_TOKEN (403)" in output
    assert hub["token_not_granted"] not in output
    assert node("test", "-e", MODEL).returncode != 0


def test_a_connection_that_never_comes_back_fails_after_the_attempts_and_no_weight_is_written(cli, fresh_model, hub,
                                                                                             fetch_node):
    admin(hub, "POST", "reset", {"client": fetch_node})
    # Every transfer of the shard is cut after 1 MiB, however often it is asked for.
    admin(hub, "POST", "faults", {"file": SHARD, "action": "drop", "after_bytes": 1024 * 1024, "times": None,
                                  "client": fetch_node})
    try:
        code, output, _ = cli("deploy", "-i", str(fresh_model), "-e", "model_fetch_hf_retries=1")
    finally:
        admin(hub, "POST", "reset", {"client": fetch_node})
    assert code == 2, output[-3000:]
    assert "was not downloaded: the download did not finish after 2 attempt(s)" in output, output[-3000:]
    assert f"{MODEL} was left as it was" in output
    # As it was: the tokenizer and config files of the first pass (what every host gets), no weight.
    manifest = json.loads(node("cat", f"{MODEL}/trtllm-deploy-manifest.json").stdout)
    assert manifest["origin"].endswith(" (no weights)") and "tokenizer.json" in manifest["files"]
    assert node("sh", "-c", f"ls {MODEL}/*.safetensors").returncode != 0
    assert node("sh", "-c", "docker ps -aq --filter name=-fetch").stdout == "", "no download container is left"


def test_a_dropped_download_resumes_and_the_token_is_nowhere(cli, fresh_model, hub, fetch_node, tmp_path):
    token = hub["token"]
    admin(hub, "POST", "reset", {"client": fetch_node})
    admin(hub, "POST", "faults", {"file": SHARD, "action": "drop", "after_bytes": CHUNK + 512 * 1024,
                                  "client": fetch_node})
    code, output, artifacts = cli("deploy", "-i", str(fresh_model), "--secret-file", secret_file(tmp_path, token))
    assert code == 0, output[-3000:]

    # One cut transfer, then one that asks for the rest only: the second try fetched less than the file.
    shard = [r for r in served(hub, fetch_node) if r["file"] == SHARD and r["method"] == "GET" and r["bytes"]]
    size = int(node("stat", "-c", "%s", f"{MODEL}/{SHARD}").stdout)
    assert len(shard) == 2 and shard[0]["bytes"] == CHUNK + 512 * 1024, shard
    assert shard[1]["range"] == f"bytes={CHUNK}-" and shard[1]["bytes"] == size - CHUNK < size, shard
    manifest = json.loads(node("cat", f"{MODEL}/trtllm-deploy-manifest.json").stdout)
    assert manifest["kind"] == "model" and manifest["origin"] == f"hf:meta-llama/Meta-Llama-3-8B-Instruct@" \
        f"{hub['revisions']['main']}"
    assert node("test", "-e", "/root/models/trt/.Tiny-Llama-Sim.fetching").returncode != 0

    # The token: not on the node's disk, not in any container's configuration, not in the run's output or files.
    on_disk = node("grep", "-rlsF", token, "/root", "/opt", "/etc", "/tmp", "/var/log", "/var/lib/docker/containers")
    assert on_disk.stdout == "", on_disk.stdout
    inspected = node("sh", "-c", "docker inspect $(docker ps -aq)")
    assert inspected.returncode == 0 and token not in inspected.stdout
    assert token not in output
    leaked = [str(p) for p in artifacts.rglob("*") if p.is_file() and token in p.read_text(errors="replace")]
    assert leaked == []


@pytest.fixture
def deployed_model(cli, fetch_node, tmp_path):
    """An inventory of the node with the model from the Hub in place and deployed: as the test before leaves it
    (reused, checked by its manifest's origin and the server's readiness), else deployed here."""
    (tmp_path / "inventory").mkdir()
    (tmp_path / "inventory" / "group_vars").symlink_to(REPO / "testbed" / "inventories" / "local" / "group_vars")
    inventory = node_inventory(tmp_path / "inventory" / "hosts.yml", {"fetch-node": NODE})
    manifest = node("cat", f"{MODEL}/trtllm-deploy-manifest.json")
    in_place = manifest.returncode == 0 and json.loads(manifest.stdout)["origin"].startswith("hf:") and \
        node("python3", "-c", READY).returncode == 0
    if not in_place:
        code, output, _ = cli("deploy", "-i", str(inventory))
        assert code == 0, output[-3000:]
    return inventory


def test_a_second_deploy_downloads_nothing(cli, deployed_model, hub, fetch_node):
    admin(hub, "POST", "reset", {"client": fetch_node})
    code, output, artifacts = cli("deploy", "-i", str(deployed_model))
    assert code == 0, output[-3000:]
    assert said(artifacts, "the model in place is this commit")
    assert [r["file"] for r in served(hub, fetch_node) if r["file"] and r["bytes"]] == []


def test_the_controller_source_pushes_with_rsync_and_a_second_run_sends_nothing(cli, fresh_model, hub, fetch_node,
                                                                               tmp_path):
    # An air-gapped site's copy of the repository at main on the controller: the stand-in Hub's own files.
    content = Path(hub["content"])
    files = json.loads((content / "hub.json").read_text())["repos"][hub["repo"]]["commits"][hub["revisions"]["main"]]
    source = tmp_path / "Meta-Llama-3-8B-Instruct"
    source.mkdir()
    for name, entry in files["files"].items():
        if "/" not in name and name.endswith((".json", ".safetensors")):
            shutil.copyfile(content / "objects" / entry["sha256"], source / name)
    admin(hub, "POST", "reset", {"client": fetch_node})
    extra = ["-e", "model_fetch_source=controller", "-e", f"model_fetch_controller_dir={source}"]

    code, output, _ = cli("deploy", "-i", str(fresh_model), *extra)
    assert code == 0, output[-3000:]
    manifest = json.loads(node("cat", f"{MODEL}/trtllm-deploy-manifest.json").stdout)
    assert manifest["origin"] == f"controller:{source}"
    assert sorted(manifest["files"]) == sorted(p.name for p in source.iterdir())
    for name, entry in manifest["files"].items():
        assert node("sha256sum", f"{MODEL}/{name}").stdout.split()[0] == entry["sha256"], name
    assert [r for r in served(hub, fetch_node) if r["file"]] == [], "nothing came from the Hub"

    code, output, artifacts = cli("deploy", "-i", str(fresh_model), *extra)
    assert code == 0, output[-3000:]
    assert said(artifacts, f"controller:{source}: the model in place has the same files")

    # A file changed on the controller: pushed again, and the model in place is the new one.
    # (Sampling defaults, as Llama 3's; the end ids stay the model's, which the smoke test checks.)
    changed = dict(json.loads((source / "generation_config.json").read_text()), temperature=0.6, top_p=0.9)
    (source / "generation_config.json").write_text(json.dumps(changed) + "\n")
    code, output, artifacts = cli("deploy", "-i", str(fresh_model), *extra)
    assert code == 0, output[-3000:]
    assert said(artifacts, f"pushed (its files differ from {source})")
    assert json.loads(node("cat", f"{MODEL}/generation_config.json").stdout) == changed
