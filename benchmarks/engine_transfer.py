#!/usr/bin/env python3
"""Benchmark: an engine to two hosts with become, through the controller (before 0.4.0) and host to host.

Three fresh prepared simulated nodes logged into as their unprivileged user with become (the scenario
inventories' molecule/shared/group_vars, as inventories/fleet). For each engine size (default 1 MiB and 2 GiB)
and each way: the time to put it on the two other hosts, every file checked, and what the controller paid:
its process tree's peak memory (PSS) and the bytes its processes read and wrote (molecule/shared/controller_load).
Making the engine on the first host is part of each run and the same for both ways.

    .venv/bin/python benchmarks/engine_transfer.py [--sizes 1048576,2147483648] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "molecule" / "shared"))
from controller_load import measure  # noqa: E402

NODES = [f"trtllm-bench-transfer-{i}" for i in range(3)]
WAYS = {"through the controller": ["benchmarks/relay-through-controller.yml", "-e", "transfer_make_only=true"],
        "host to host": ["molecule/fleet/transfer.yml"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=f"{1 << 20},{2 << 30}")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    nodes = json.dumps({"fleet_nodes": [{"name": n, "prepared": True, "pipeline": False} for n in NODES]})
    subprocess.run(["ansible-playbook", "testbed/fleet-nodes.yml", "-e", nodes], cwd=REPO, env=env, check=True,
                   capture_output=True)
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="transfer-bench-") as tmp:
            inventory = Path(tmp) / "inventory"
            inventory.mkdir()
            (inventory / "group_vars").symlink_to(REPO / "molecule" / "shared" / "group_vars")
            (inventory / "hosts.yml").write_text(json.dumps({"all": {"children": {"gpu_nodes": {
                "hosts": {n: {"ansible_host": n} for n in NODES}}}}}))
            for size in [int(s) for s in args.sizes.split(",")]:
                for way, playbook in WAYS.items():
                    cache = Path(tmp) / "relay"
                    run = measure(["ansible-playbook", *playbook, "-i", str(inventory), "-e", f"transfer_bytes={size}"],
                                  cwd=REPO, env=dict(env, RELAY_CACHE=str(cache)))
                    if run["rc"] != 0:
                        sys.exit(f"{way}, {size} bytes failed:\n{run['output'][-4000:]}")
                    results.append({"way": way, "bytes": size, "seconds": run["seconds"],
                                    "peak_mib": round(run["peak_bytes"] / 2**20, 1),
                                    "io_mib": round(run["io_bytes"] / 2**20, 1)})
                    print(json.dumps(results[-1]), flush=True)
                    subprocess.run(["rm", "-rf", str(cache)], check=True)
    finally:
        subprocess.run([sys.executable, str(REPO / "testbed" / "nodes.py"), "remove", *NODES], capture_output=True)
    print(f"\n{'way':<24} {'engine':>10} {'seconds':>8} {'peak MiB':>9} {'I/O MiB':>9}")
    for r in results:
        print(f"{r['way']:<24} {r['bytes'] / 2**20:>8.0f}Mi {r['seconds']:>8.1f} {r['peak_mib']:>9.1f} "
              f"{r['io_mib']:>9.1f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
