"""The stand-in nvidia-smi answers in the real tool's formats (checked against a real H100)."""

from __future__ import annotations

import re

import pytest

from ansible_collections.trtllm.deploy.plugins.module_utils import gpu

H100 = "nvidia-smi/h100-80gb-x1"


def test_query_with_header_matches_the_real_h100(fixtures, smi):
    real = (fixtures / H100 / "query-gpu.csv").read_text().splitlines()
    fields = "index,uuid,name,memory.total,memory.used,memory.free,driver_version,compute_cap," \
             "pci.bus_id,mig.mode.current,persistence_mode"
    answer = smi(f"--query-gpu={fields}", "--format=csv", profile="h100-80gb-hbm3", count=1)
    assert answer.returncode == 0
    ours = answer.stdout.splitlines()
    assert ours[0] == real[0]
    mine, theirs = ours[1].split(", "), real[1].split(", ")
    skip = {1, 8}  # uuid and PCI bus id are per board
    assert [v for i, v in enumerate(mine) if i not in skip] == [v for i, v in enumerate(theirs) if i not in skip]


def test_noheader_nounits_matches_the_real_h100(fixtures, smi):
    real = (fixtures / H100 / "query-gpu-noheader.csv").read_text().splitlines()
    fields = "index,uuid,name,memory.total,memory.used,memory.free,driver_version,compute_cap"
    ours = smi(f"--query-gpu={fields}", "--format=csv,noheader,nounits", count=1).stdout.splitlines()
    assert len(ours) == len(real) == 1
    assert ours[0].split(", ")[2:] == real[0].split(", ")[2:]


def test_list_matches_the_real_format(fixtures, smi):
    real = (fixtures / H100 / "nvidia-smi-L.txt").read_text().strip()
    pattern = r"GPU (\d+): (.+) \(UUID: GPU-[0-9a-f-]{36}\)"
    assert re.fullmatch(pattern, real)
    ours = smi("-L", count=8).stdout.splitlines()
    assert [re.fullmatch(pattern, line).group(1) for line in ours] == [str(i) for i in range(8)]


@pytest.mark.parametrize("count", [1, 2, 8])
def test_the_module_parser_reads_the_standin(smi, count):
    rows = gpu.parse_query_csv(smi(*gpu.QUERY_ARGS, count=count, profile="a100-sxm4-80gb").stdout)
    details = gpu.parse_smi_xml(smi(*gpu.XML_ARGS, count=count, profile="a100-sxm4-80gb").stdout)
    facts = gpu.summarize(rows, details)
    assert facts["count"] == count
    assert facts["names"] == ["NVIDIA A100-SXM4-80GB"]
    assert facts["architecture"] == "Ampere"
    assert facts["cuda_version"] == "12.4"
    assert len({g["uuid"] for g in facts["gpus"]}) == count


def test_visible_devices_renumber_from_zero(smi):
    ours = smi("--query-gpu=index,uuid", "--format=csv,noheader", count=8, visible="2,5").stdout.splitlines()
    all_uuids = smi("--query-gpu=uuid", "--format=csv,noheader", count=8).stdout.splitlines()
    assert [line.split(", ") for line in ours] == [["0", all_uuids[2]], ["1", all_uuids[5]]]


def test_no_driver_fails_like_the_real_tool(smi):
    answer = smi("-L", driver="absent")
    assert answer.returncode == 9
    assert answer.stdout.startswith("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.")


def test_unknown_field_is_refused(smi):
    answer = smi("--query-gpu=index,bogus", "--format=csv")
    assert answer.returncode == 2
    assert 'Field "bogus" is not a valid field to query.' in answer.stdout
