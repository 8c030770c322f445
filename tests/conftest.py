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
            capture_output=True, text=True, env=dict(os.environ, NVIDIA_SIM_CONFIG=str(path)),
        )

    return run
