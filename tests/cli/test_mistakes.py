"""The mistakes of mistakes.yml, each refused with exit 4 before any host is touched, the message naming it.

Runs the CLI's entry point in-process (validation is controller-only), with the runner replaced by a
tripwire and sockets that refuse to connect: a case that got as far as a playbook, or opened a connection,
fails. One case also runs as a subprocess against TEST-NET addresses. No simulated node is needed.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from trtllm_deploy import cli

REPO = Path(__file__).resolve().parents[2]
CASES = yaml.safe_load((Path(__file__).parent / "mistakes.yml").read_text())


def make_inventory(root: Path, files: dict | None) -> Path:
    inventory = root / "inventory"
    shutil.copytree(REPO / "inventories" / "fleet", inventory)
    for rel, text in (files or {}).items():
        path = inventory / rel
        if text is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return inventory


@pytest.fixture
def no_host_contact(monkeypatch):
    """Fail on any playbook run or outgoing connection."""
    runs = []

    def tripwire(stage, *args, **kwargs):
        runs.append(stage.playbook)
        raise AssertionError(f"a playbook was run: {stage.playbook}")

    def refuse(self, address):
        raise AssertionError(f"a connection was opened to {address}")

    monkeypatch.setattr(cli, "run_stage", tripwire)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    return runs


def test_the_suite_is_large_enough():
    assert len(CASES) >= 50
    assert len({case["id"] for case in CASES}) == len(CASES)


DEPLOY_SAMPLE = {"tp-size-is-a-word", "misspelled-batch-size", "two-hosts-at-one-address-share-ports",
                 "registry-password-in-plain-text", "serial-in-the-inventory-is-not-seen"}


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_mistake_is_refused_by_validate(case, tmp_path, capsys, no_host_contact):
    refused(case, "validate", tmp_path, capsys, no_host_contact)


@pytest.mark.parametrize("case", [c for c in CASES if c["id"] in DEPLOY_SAMPLE], ids=sorted(DEPLOY_SAMPLE, key=[
    c["id"] for c in CASES].index))
def test_mistake_is_refused_by_deploy(case, tmp_path, capsys, no_host_contact):
    """deploy runs the same check first; a sample shows it."""
    refused(case, "deploy", tmp_path, capsys, no_host_contact)


def refused(case, command, tmp_path, capsys, no_host_contact):
    inventory = make_inventory(tmp_path, case.get("files"))
    argv = [command, "-i", str(inventory), "--plain", "--artifacts", str(tmp_path / "artifacts")]
    for item in case.get("extra", []):
        argv += ["-e", item]
    if case.get("args"):
        if command != "deploy":
            argv[0] = "deploy"
        argv += case["args"]
    code = cli.main(argv)
    output = capsys.readouterr()
    console = output.out + output.err
    assert code == cli.EXIT_BAD_INPUT, console
    assert no_host_contact == []
    assert "no host was touched" in console
    missing = [text for text in case["expect"] if text not in console]
    assert not missing, f"{missing} not in:\n{console}"
    leaked = [text for text in case.get("absent", []) if text in console]
    assert not leaked, f"secret shown: {leaked}"
    assert not (tmp_path / "artifacts").exists()


def test_the_sample_inventories_pass():
    from trtllm_deploy.validation import validate

    for inventory in ("inventories/a100", "inventories/fleet", "testbed/inventories/local"):
        findings = validate([str(REPO / inventory)], {}, None, REPO)
        assert findings.problems == {}, (inventory, findings.lines())


def test_an_unreachable_fleet_is_refused_at_once_as_a_subprocess(tmp_path):
    """The real command against TEST-NET hosts: refused in seconds (an SSH attempt would wait for its
    timeout), no artifacts written (ansible-runner never started)."""
    inventory = make_inventory(tmp_path, {"group_vars/all/typo.yml": "trtllm_max_bach_size: 64\n"})
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "trtllm_deploy", "deploy", "-i", str(inventory), "--plain",
                           "--artifacts", str(tmp_path / "artifacts")], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "trtllm_max_bach_size" in proc.stderr and "trtllm_max_batch_size" in proc.stderr
    assert time.monotonic() - started < 30
    assert not (tmp_path / "artifacts").exists()
