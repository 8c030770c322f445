"""A simulated GPU node of its own for the CLI tests, and a way to run the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NODE = "trtllm-cli-node"
SECRET = "hf_cli-test-SECRET-4f9a2c"  # must never show up anywhere


def node_inventory(path: Path, hosts: dict) -> Path:
    lines = ["all:", "  children:", "    gpu_nodes:", "      hosts:"]
    for name, container in hosts.items():
        lines += [f"        {name}:", f"          ansible_host: {container}"]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="session")
def cli_node():
    """Start (or reuse) the node with the test-bed images and the pipeline's inputs."""
    playbook = REPO / "tests" / "cli" / "node.yml"
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    subprocess.run(["ansible-playbook", str(playbook), "-e", f"cli_node={NODE}"], check=True, env=env,
                   cwd=REPO, capture_output=True)
    yield NODE
    subprocess.run([sys.executable, str(REPO / "testbed" / "nodes.py"), "remove", NODE], capture_output=True)


@pytest.fixture(scope="session")
def inventory(cli_node, tmp_path_factory):
    """testbed/inventories/local's variables, one host: the CLI node."""
    root = tmp_path_factory.mktemp("inventory")
    (root / "group_vars").symlink_to(REPO / "testbed" / "inventories" / "local" / "group_vars")
    node_inventory(root / "hosts.yml", {"cli-node": cli_node})
    return root


@pytest.fixture
def cli(tmp_path):
    """Run trtllm-deploy; returns (exit code, console output, artifacts dir)."""
    artifacts = tmp_path / "artifacts"

    def run(*args: str, env: dict | None = None, timeout: float = 900):
        environment = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "NGC_API_KEY")}
        environment.update(env or {})
        proc = subprocess.run([sys.executable, "-m", "trtllm_deploy", args[0], "--artifacts", str(artifacts),
                               "--plain", *args[1:]], capture_output=True, text=True, env=environment,
                              cwd=tmp_path, timeout=timeout)
        return proc.returncode, proc.stdout + proc.stderr, artifacts

    return run


def node_exec(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", "exec", NODE, *argv], capture_output=True, text=True)


@pytest.fixture(scope="session")
def hub() -> dict:
    """The test bed's stand-in Hugging Face Hub (started or reused): its URLs, tokens, repository and revisions."""
    started = subprocess.run([sys.executable, str(REPO / "testbed" / "hub" / "start.py")], capture_output=True,
                             text=True)
    assert started.returncode == 0, started.stderr
    return json.loads(started.stdout)


# Fixtures that start or use a simulated node: their tests are left out of `make check` (-m "not node").
NODE_FIXTURES = {"cli_node", "inventory", "fetch_node", "fresh_model", "fleet", "fleet_inventory"}


def pytest_collection_modifyitems(items):
    for item in items:
        if NODE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.node)
