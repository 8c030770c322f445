"""gpu_facts: parsing real nvidia-smi output, and the module run through Ansible."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from ansible_collections.trtllm.deploy.plugins.module_utils import gpu

H100 = "nvidia-smi/h100-80gb-x1"


def real_query_rows(fixtures: Path) -> str:
    """The real H100's `--query-gpu` answer, narrowed to the module's fields and nounits."""
    with open(fixtures / H100 / "query-gpu.csv", newline="") as handle:
        rows = list(csv.reader(handle, skipinitialspace=True))
    header = [h.split(" [")[0] for h in rows[0]]
    picked = [[row[header.index(f)].replace(" MiB", "") for f in gpu.QUERY_FIELDS] for row in rows[1:]]
    return "".join(", ".join(r) + "\n" for r in picked)


def test_parses_the_real_h100_query(fixtures):
    rows = gpu.parse_query_csv(real_query_rows(fixtures))
    assert rows == [{
        "index": 0,
        "uuid": "GPU-03cd9d4b-89b9-2683-728e-cb6cc0faf384",
        "name": "NVIDIA H100 80GB HBM3",
        "memory_total_mib": 81559,
        "memory_free_mib": 81079,
        "driver_version": "580.159.04",
        "compute_capability": "9.0",
    }]


def test_parses_the_real_h100_xml(fixtures):
    details = gpu.parse_smi_xml((fixtures / H100 / "nvidia-smi-q.xml").read_text())
    assert details["cuda_version"] == "13.0"
    assert details["driver_version"] == "580.159.04"
    assert details["gpus"] == {
        "GPU-03cd9d4b-89b9-2683-728e-cb6cc0faf384": {"architecture": "Hopper", "mig_mode": "Disabled"}
    }


def test_summary_of_the_real_h100(fixtures):
    facts = gpu.summarize(
        gpu.parse_query_csv(real_query_rows(fixtures)),
        gpu.parse_smi_xml((fixtures / H100 / "nvidia-smi-q.xml").read_text()),
    )
    assert facts["count"] == 1
    assert facts["memory_total_mib"] == 81559
    assert facts["compute_capability"] == "9.0"
    assert facts["gpus"][0]["sm"] == "sm_90"
    assert facts["architecture"] == "Hopper"
    assert facts["cuda_version"] == "13.0"
    assert facts["mig_enabled"] is False
    assert facts["homogeneous"] is True


@pytest.mark.parametrize("line, problem", [
    ("0, GPU-x, NVIDIA H100, 81559, 81079, 580.1", "has 6 fields, expected 7"),
    ("zero, GPU-x, NVIDIA H100, 81559, 81079, 580.1, 9.0", "GPU index 'zero' is not a number"),
    ("0, GPU-x, NVIDIA H100, lots, 81079, 580.1, 9.0", "expected a number of MiB, got 'lots'"),
])
def test_malformed_rows_say_what_is_wrong(line, problem):
    with pytest.raises(gpu.GpuQueryError, match=problem):
        gpu.parse_query_csv(line + "\n")


def test_not_available_values_are_none():
    rows = gpu.parse_query_csv("0, GPU-x, Tesla T4, [N/A], [N/A], 535.1, [N/A]\n")
    assert rows[0]["memory_total_mib"] is None
    assert rows[0]["compute_capability"] is None


def test_driver_failure_message_says_what_to_do(smi):
    answer = smi("--query-gpu=index", "--format=csv", driver="absent")
    assert answer.returncode == 9
    message = gpu.explain_failure(answer.returncode, answer.stdout, answer.stderr)
    assert message.startswith("the NVIDIA driver is not loaded")
    assert "Install the driver" in message
    assert "couldn't communicate with the NVIDIA driver" in message
