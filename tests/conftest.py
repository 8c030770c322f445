"""Shared test set-up: the collection on sys.path, paths to the repo and ../shared."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("TRTLLM_SHARED", REPO.parent / "shared"))
FIXTURES = SHARED / "fixtures"

sys.path.insert(0, str(REPO / ".collections"))


@pytest.fixture(scope="session")
def fixtures() -> Path:
    if not FIXTURES.is_dir():
        pytest.fail(f"the shared fixtures are missing at {FIXTURES} (set TRTLLM_SHARED)")
    return FIXTURES


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture
def smi(tmp_path):
    """Run the stand-in nvidia-smi with a node config: smi(*args, count=8, driver=...)."""
    import json
    import subprocess

    def run(*args: str, **config) -> subprocess.CompletedProcess:
        path = tmp_path / "nvidia-sim.json"
        path.write_text(json.dumps(config))
        return subprocess.run(
            [sys.executable, str(REPO / "testbed" / "sim" / "nvidia_smi.py"), *args],
            capture_output=True, text=True,
            env=dict(os.environ, NVIDIA_SIM_CONFIG=str(path), NVIDIA_SIM_LEDGER=str(tmp_path / "claims")),
        )

    return run


@pytest.fixture
def adhoc(tmp_path):
    """Run one module on localhost through `ansible`: adhoc(module, args, check=, diff=, env=) -> (rc, result)."""
    import json
    import subprocess

    def run(module: str, args: dict, check: bool = False, diff: bool = False, env: dict | None = None):
        environment = dict(
            os.environ,
            ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
            ANSIBLE_COLLECTIONS_PATH=str(REPO / ".collections"),
            ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
            ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
            ANSIBLE_LOCAL_TEMP=str(tmp_path / ".ansible-tmp"),
            **(env or {}),
        )
        argv = [os.path.join(os.path.dirname(sys.executable), "ansible"), "localhost", "-c", "local",
                "-e", f"ansible_python_interpreter={sys.executable}", "-m", module, "-a", json.dumps(args)]
        done = subprocess.run(argv + (["--check"] if check else []) + (["--diff"] if diff else []),
                              capture_output=True, text=True, env=environment, cwd=REPO)
        report = json.loads(done.stdout)
        return done.returncode, report["plays"][0]["tasks"][0]["hosts"]["localhost"]

    return run


@pytest.fixture
def triton():
    """A loopback stand-in of Triton's HTTP endpoint (tests/unit/triton_stub.py) and its base URL."""
    from triton_stub import serve

    with serve() as (stub, base):
        yield stub, base
