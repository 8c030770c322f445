"""The gpu_facts module run through `ansible` on localhost against the stand-in nvidia-smi."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STANDIN = REPO / "testbed" / "sim" / "nvidia_smi.py"


def run_module(adhoc, tmp_path, executable, **config) -> tuple[int, dict]:
    (tmp_path / "sim.json").write_text(json.dumps(config))
    return adhoc("trtllm.deploy.gpu_facts", {"executable": str(executable)},
                 env={"NVIDIA_SIM_CONFIG": str(tmp_path / "sim.json")})


def test_eight_gpus_become_the_trtllm_gpus_fact(adhoc, tmp_path):
    rc, result = run_module(adhoc, tmp_path, STANDIN, count=8, profile="a100-sxm4-80gb")
    assert rc == 0, result
    facts = result["ansible_facts"]["trtllm_gpus"]
    assert result["changed"] is False
    assert facts["count"] == 8
    assert facts["memory_total_mib"] == 8 * 81920
    assert facts["cuda_version"] == "12.4"
    assert [g["index"] for g in facts["gpus"]] == list(range(8))


@pytest.mark.parametrize("executable, config, message", [
    ("/nonexistent/nvidia-smi", {}, "/nonexistent/nvidia-smi was not found (or is not executable)"),
    ("nvidia-smi-not-on-path", {}, "nvidia-smi-not-on-path was not found"),
    (STANDIN, {"driver": "absent"}, "the NVIDIA driver is not loaded"),
    (STANDIN, {"count": 0}, "the NVIDIA driver answers but lists no GPU"),
])
def test_failures_say_what_to_fix(adhoc, tmp_path, executable, config, message):
    rc, result = run_module(adhoc, tmp_path, executable, **config)
    assert rc != 0
    assert result["failed"] is True
    assert message in result["msg"]
