# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parse what `nvidia-smi` prints into the facts the roles act on. No Ansible imports."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

QUERY_FIELDS = ("index", "uuid", "name", "memory.total", "memory.free", "driver_version", "compute_cap")
QUERY_ARGS = ["--query-gpu=" + ",".join(QUERY_FIELDS), "--format=csv,noheader,nounits"]
XML_ARGS = ["-q", "-x"]

# Compute capability major.minor -> architecture, for drivers whose XML lacks it.
ARCHITECTURES = {
    "7.0": "Volta", "7.5": "Turing", "8.0": "Ampere", "8.6": "Ampere", "8.7": "Ampere",
    "8.9": "Ada Lovelace", "9.0": "Hopper", "10.0": "Blackwell", "12.0": "Blackwell",
}

NOT_AVAILABLE = {"[N/A]", "N/A", "[Not Supported]", "[Unknown Error]"}


class GpuQueryError(Exception):
    """nvidia-smi answered, but not with something we can trust."""


def _int_or_none(value: str) -> int | None:
    value = value.strip()
    if value in NOT_AVAILABLE:
        return None
    try:
        return int(float(value.split()[0]))
    except (ValueError, IndexError) as err:
        raise GpuQueryError(f"expected a number of MiB, got {value!r}") from err


def parse_query_csv(text: str) -> list[dict]:
    """Rows of `--query-gpu=<QUERY_FIELDS> --format=csv,noheader,nounits`."""
    gpus = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        cells = [c.strip() for c in line.split(",")]
        if len(cells) != len(QUERY_FIELDS):
            raise GpuQueryError(
                f"line {lineno} of nvidia-smi's answer has {len(cells)} fields, expected "
                f"{len(QUERY_FIELDS)} ({','.join(QUERY_FIELDS)}): {line!r}"
            )
        row = dict(zip(QUERY_FIELDS, cells, strict=True))
        try:
            index = int(row["index"])
        except ValueError as err:
            raise GpuQueryError(f"line {lineno}: GPU index {row['index']!r} is not a number") from err
        gpus.append({
            "index": index,
            "uuid": row["uuid"],
            "name": row["name"],
            "memory_total_mib": _int_or_none(row["memory.total"]),
            "memory_free_mib": _int_or_none(row["memory.free"]),
            "driver_version": row["driver_version"],
            "compute_capability": None if row["compute_cap"] in NOT_AVAILABLE else row["compute_cap"],
        })
    return gpus


def parse_smi_xml(text: str) -> dict:
    """The few fields of `nvidia-smi -q -x` that the CSV query cannot give."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as err:
        raise GpuQueryError(f"nvidia-smi -q -x did not print XML: {err}") from err
    per_gpu = {}
    for gpu in root.findall("gpu"):
        uuid = (gpu.findtext("uuid") or "").strip()
        per_gpu[uuid] = {
            "architecture": (gpu.findtext("product_architecture") or "").strip() or None,
            "mig_mode": (gpu.findtext("mig_mode/current_mig") or "").strip() or None,
        }
    return {
        "driver_version": (root.findtext("driver_version") or "").strip() or None,
        "cuda_version": (root.findtext("cuda_version") or "").strip() or None,
        "gpus": per_gpu,
    }


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version or ""))


def summarize(gpus: list[dict], details: dict) -> dict:
    """The trtllm_gpus fact: per-GPU rows plus what a deployment decides on."""
    for gpu in gpus:
        extra = details.get("gpus", {}).get(gpu["uuid"], {})
        cap = gpu["compute_capability"]
        gpu["architecture"] = extra.get("architecture") or ARCHITECTURES.get(cap or "")
        gpu["sm"] = "sm_" + cap.replace(".", "") if cap else None
        gpu["mig_mode"] = extra.get("mig_mode")
    caps = sorted({g["compute_capability"] for g in gpus if g["compute_capability"]}, key=version_tuple)
    names = sorted({g["name"] for g in gpus})
    drivers = {g["driver_version"] for g in gpus}
    return {
        "count": len(gpus),
        "gpus": gpus,
        "names": names,
        "homogeneous": len(names) <= 1,
        "memory_total_mib": sum(g["memory_total_mib"] or 0 for g in gpus),
        "memory_per_gpu_min_mib": min((g["memory_total_mib"] or 0 for g in gpus), default=0),
        "driver_version": details.get("driver_version") or (sorted(drivers)[0] if drivers else None),
        "cuda_version": details.get("cuda_version"),
        "compute_capability": caps[0] if caps else None,
        "compute_capabilities": caps,
        "architecture": gpus[0]["architecture"] if gpus else None,
        "mig_enabled": any(g["mig_mode"] == "Enabled" for g in gpus),
    }


def explain_failure(rc: int, out: str, err: str) -> str:
    """A message that says what is wrong and what to do, from a failed nvidia-smi."""
    said = " ".join((out + " " + err).split())
    if "couldn't communicate with the NVIDIA driver" in said or rc == 9:
        return (
            "the NVIDIA driver is not loaded: nvidia-smi could not talk to it "
            f"(rc={rc}: {said}). Install the driver for this GPU and reboot, or check "
            "`lsmod | grep nvidia` and `dmesg` for why it did not load."
        )
    if rc == 6 or "No devices were found" in said:
        return f"nvidia-smi found no GPU on this host (rc={rc}: {said}). Check the PCI devices and the driver."
    return f"nvidia-smi failed (rc={rc}): {said or 'no output'}"
