#!/usr/bin/env python3
"""Stand-in for `nvidia-smi` on test-bed nodes that have no NVIDIA GPU.

It answers the forms the automation and people use, in the real tool's formats:
  nvidia-smi                                   the summary table
  nvidia-smi -L                                one line per GPU
  nvidia-smi --query-gpu=F1,F2 --format=csv[,noheader][,nounits] [-i IDS]
  nvidia-smi -q -x                             XML (the subset of fields we read)

Which GPUs exist comes from /etc/nvidia-sim/config.json (written by the node's
init from NVIDIA_SIM_* variables, or by the stand-in runtime hook inside a GPU
container): {"profile": "h100-80gb-hbm3", "count": 8, "driver": "loaded",
"visible": "all"}. With "driver": "absent" it fails like the real tool on a host
whose kernel driver is not loaded (exit 9).

Memory used is what live processes hold in the node's ledger (/run/nvidia-sim/claims,
shared with every GPU container by the stand-in runtime hook): one file per allocation,
flock-ed by its owner for as long as it lives (see tensorrt_llm/cuda.py in the stand-in
TensorRT-LLM). A file whose lock nobody holds belongs to a dead process and is removed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import uuid
from xml.sax.saxutils import escape

CONFIG_PATH = os.environ.get("NVIDIA_SIM_CONFIG", "/etc/nvidia-sim/config.json")
LEDGER = os.environ.get("NVIDIA_SIM_LEDGER", "/run/nvidia-sim/claims")

# Per-model facts. H100 as read off a real H100 80GB HBM3 (driver 580); A100 as
# printed in the LLaMA workflow this project automates (driver 550).
PROFILES = {
    "h100-80gb-hbm3": {
        "name": "NVIDIA H100 80GB HBM3", "architecture": "Hopper", "memory_total": 81559,
        "memory_reserved": 480, "driver_version": "580.159.04", "cuda_version": "13.0",
        "compute_cap": "9.0", "power_limit": 700,
    },
    "a100-sxm4-80gb": {
        "name": "NVIDIA A100-SXM4-80GB", "architecture": "Ampere", "memory_total": 81920,
        "memory_reserved": 480, "driver_version": "550.90.07", "cuda_version": "12.4",
        "compute_cap": "8.0", "power_limit": 400,
    },
}

NO_DRIVER = (
    "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
    "Make sure that the latest NVIDIA driver is installed and running.\n"
)


def load_config() -> dict:
    config = {"profile": "h100-80gb-hbm3", "count": 1, "driver": "loaded", "visible": "all"}
    try:
        with open(CONFIG_PATH, encoding="utf-8") as handle:
            config.update(json.load(handle))
    except FileNotFoundError:
        pass
    return config


def held_bytes() -> dict[str, int]:
    """GPU UUID -> bytes held by live processes."""
    held: dict[str, int] = {}
    try:
        names = [n for n in os.listdir(LEDGER) if n.endswith(".claim")]
    except FileNotFoundError:
        return held
    for name in names:
        path = os.path.join(LEDGER, name)
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:  # its owner is alive
                claim = json.loads(os.read(fd, 1 << 16) or b"{}")
                if "uuid" in claim:
                    held[claim["uuid"]] = held.get(claim["uuid"], 0) + int(claim["bytes"])
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
        finally:
            os.close(fd)
    return held


def gpus(config: dict) -> list[dict]:
    profile = PROFILES[config["profile"]]
    everything = []
    held = held_bytes()
    for index in range(int(config["count"])):
        gpu = dict(profile)
        gpu["uuid"] = "GPU-" + str(uuid.uuid5(uuid.NAMESPACE_OID, f"{config['profile']}/{index}"))
        gpu["bus_id"] = f"00000000:{0x18 + index * 0x10:02X}:00.0"
        used = -(-held.get(gpu["uuid"], 0) // (1 << 20))  # MiB, rounded up
        gpu["memory_used"] = min(used, gpu["memory_total"] - gpu["memory_reserved"])
        gpu["memory_free"] = gpu["memory_total"] - gpu["memory_reserved"] - gpu["memory_used"]
        everything.append(gpu)
    visible = str(config.get("visible", "all")).strip()
    if visible in ("", "all"):
        chosen = everything
    elif visible in ("none", "void"):
        chosen = []
    else:
        wanted = [v.strip() for v in visible.split(",")]
        chosen = [g for i, g in enumerate(everything) if str(i) in wanted or g["uuid"] in wanted]
    # Inside a container, GPUs are renumbered from 0 like the real runtime does.
    for index, gpu in enumerate(chosen):
        gpu["index"] = index
    return chosen


# field name -> (header, unit, getter)
FIELDS = {
    "index": ("index", None, lambda g: g["index"]),
    "uuid": ("uuid", None, lambda g: g["uuid"]),
    "name": ("name", None, lambda g: g["name"]),
    "gpu_name": ("name", None, lambda g: g["name"]),
    "memory.total": ("memory.total [MiB]", "MiB", lambda g: g["memory_total"]),
    "memory.used": ("memory.used [MiB]", "MiB", lambda g: g["memory_used"]),
    "memory.free": ("memory.free [MiB]", "MiB", lambda g: g["memory_free"]),
    "driver_version": ("driver_version", None, lambda g: g["driver_version"]),
    "compute_cap": ("compute_cap", None, lambda g: g["compute_cap"]),
    "pci.bus_id": ("pci.bus_id", None, lambda g: g["bus_id"]),
    "mig.mode.current": ("mig.mode.current", None, lambda g: "Disabled"),
    "persistence_mode": ("persistence_mode", None, lambda g: "Enabled"),
    "count": ("count", None, lambda g: g["count"]),
}


def query(spec: str, fmt: str, selected: list[dict], total: int) -> int:
    names = [f.strip() for f in spec.split(",") if f.strip()]
    for name in names:
        if name not in FIELDS:
            sys.stdout.write(f'Field "{name}" is not a valid field to query.\n\n')
            return 2
    options = {o.strip() for o in fmt.split(",")}
    if "csv" not in options:
        sys.stdout.write('"--format" requires "csv" as one of its values.\n')
        return 2
    lines = []
    if "noheader" not in options:
        headers = [FIELDS[n][0] for n in names]
        if "nounits" in options:
            headers = [h.split(" [", 1)[0] for h in headers]
        lines.append(", ".join(headers))
    for gpu in selected:
        gpu = dict(gpu, count=total)
        values = []
        for name in names:
            _, unit, get = FIELDS[name]
            value = str(get(gpu))
            values.append(value if unit is None or "nounits" in options else f"{value} {unit}")
        lines.append(", ".join(values))
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def table(selected: list[dict]) -> str:
    first = selected[0] if selected else next(iter(PROFILES.values()))
    out = [
        "+-----------------------------------------------------------------------------------------+",
        f"| NVIDIA-SMI {first['driver_version']:<22} Driver Version: {first['driver_version']:<14}"
        f" CUDA Version: {first['cuda_version']:<8} |",
        "+-----------------------------------------+------------------------+----------------------+",
    ]
    for gpu in selected:
        memory = f"{gpu['memory_used']}MiB / {gpu['memory_total']}MiB"
        out.append(f"| {gpu['index']:>3}  {gpu['name']:<30} On  |   {gpu['bus_id']} Off |"
                   f"                    0 |")
        out.append(f"| N/A   30C    P0             60W / {gpu['power_limit']:>4}W | {memory:>22} |"
                   f"      0%      Default |")
        out.append("+-----------------------------------------+------------------------+----------------------+")
    return "\n".join(out) + "\n"


def xml(selected: list[dict]) -> str:
    first = selected[0] if selected else next(iter(PROFILES.values()))
    parts = [
        '<?xml version="1.0" ?>',
        "<nvidia_smi_log>",
        f"\t<driver_version>{first['driver_version']}</driver_version>",
        f"\t<cuda_version>{first['cuda_version']}</cuda_version>",
        f"\t<attached_gpus>{len(selected)}</attached_gpus>",
    ]
    for gpu in selected:
        parts += [
            f'\t<gpu id="{gpu["bus_id"]}">',
            f"\t\t<product_name>{escape(gpu['name'])}</product_name>",
            f"\t\t<product_architecture>{gpu['architecture']}</product_architecture>",
            "\t\t<mig_mode>",
            "\t\t\t<current_mig>Disabled</current_mig>",
            "\t\t\t<pending_mig>Disabled</pending_mig>",
            "\t\t</mig_mode>",
            f"\t\t<uuid>{gpu['uuid']}</uuid>",
            f"\t\t<minor_number>{gpu['index']}</minor_number>",
            "\t\t<fb_memory_usage>",
            f"\t\t\t<total>{gpu['memory_total']} MiB</total>",
            f"\t\t\t<reserved>{gpu['memory_reserved']} MiB</reserved>",
            f"\t\t\t<used>{gpu['memory_used']} MiB</used>",
            f"\t\t\t<free>{gpu['memory_free']} MiB</free>",
            "\t\t</fb_memory_usage>",
            "\t</gpu>",
        ]
    parts.append("</nvidia_smi_log>")
    return "\n".join(parts) + "\n"


def main(argv: list[str]) -> int:
    config = load_config()
    if config.get("driver") != "loaded":
        sys.stdout.write(NO_DRIVER)
        return 9
    selected = gpus(config)
    total = len(selected)
    ids = None
    query_spec = fmt = None
    listing = want_q = want_xml = False
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg.startswith("--query-gpu="):
            query_spec = arg.split("=", 1)[1]
        elif arg == "--query-gpu":
            query_spec = args.pop(0)
        elif arg.startswith("--format="):
            fmt = arg.split("=", 1)[1]
        elif arg == "--format":
            fmt = args.pop(0)
        elif arg in ("-i", "--id"):
            ids = args.pop(0)
        elif arg.startswith("--id="):
            ids = arg.split("=", 1)[1]
        elif arg in ("-L", "--list-gpus"):
            listing = True
        elif arg in ("-q", "--query"):
            want_q = True
        elif arg in ("-x", "--xml-format"):
            want_xml = True
        elif arg == "-qx":
            want_q = want_xml = True
        else:
            sys.stdout.write("Invalid combination of input arguments. Please run 'nvidia-smi -h' for help.\n\n")
            return 2
    if ids is not None:
        wanted = {i.strip() for i in ids.split(",")}
        selected = [g for g in selected if str(g["index"]) in wanted or g["uuid"] in wanted]
        if not selected:
            sys.stdout.write(f"No devices were found matching the id: {ids}\n")
            return 6
    if query_spec is not None:
        return query(query_spec, fmt or "", selected, total)
    if listing:
        sys.stdout.write("".join(f"GPU {g['index']}: {g['name']} (UUID: {g['uuid']})\n" for g in selected))
        return 0
    if want_q and want_xml:
        sys.stdout.write(xml(selected))
        return 0
    if not selected:
        sys.stdout.write("No devices were found\n")
        return 6
    sys.stdout.write(table(selected))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
