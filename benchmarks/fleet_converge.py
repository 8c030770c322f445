#!/usr/bin/env python3
"""Benchmark: site.yml on 1, 2 and 4 identical fresh simulated hosts, in one run.

For each fleet size: fresh nodes (not timed), then one converge of site.yml over
all of them (timed), with the engine builds counted from trtllm_build results and
the copies from engine_manifest installs. The 4-host fleet converges a second time
to show changed=0. Reports wall times and ratios against one host.

The simulated nodes share this machine's cores with each other and the controller,
where real hosts each bring their own. So each converge also reports the CPU time the
whole machine spent (/proc/stat) and how busy its cores were: a run at ~100% is bound
by this machine, not by the playbooks. --node-cpus caps every node's CPU (docker
--cpus) to give each one a fixed share, as separate machines would have. The cap holds
the node's own processes (Ansible's module runs, its dockerd), nearly all of the work;
the containers its engine starts (Triton) get cgroups beside the node's (cgroupns
host), not under it, and are not capped.

    .venv/bin/python benchmarks/fleet_converge.py [--json FILE] [--sizes 1,2,4] [--node-cpus 0.4]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PREFIX = "trtllm-bench-"
CORES = os.cpu_count() or 1


def busy_seconds() -> float:
    """CPU seconds the whole machine has spent on anything but idle and iowait."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def ansible_playbook(*args: str, json_out: bool = True) -> tuple[float, float, dict]:
    """Wall seconds, machine CPU seconds and the JSON report of one run."""
    env = dict(os.environ)
    if json_out:
        env.update(ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1")
    started, cpu = time.monotonic(), busy_seconds()
    proc = subprocess.run(["ansible-playbook", *args], cwd=REPO, env=env, capture_output=True, text=True)
    wall, cpu = time.monotonic() - started, busy_seconds() - cpu
    if proc.returncode != 0:
        sys.exit(f"ansible-playbook {' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}")
    return wall, cpu, json.loads(proc.stdout) if json_out else {}


def remove_nodes() -> None:
    names = subprocess.run(["docker", "ps", "-aq", "--filter", f"name=^{PREFIX}"], capture_output=True,
                           text=True, check=True).stdout.split()
    if names:
        subprocess.run(["docker", "rm", "-f", "-v", *names], capture_output=True, check=True)


def inventory(directory: Path, hosts: list[str]) -> Path:
    (directory / "hosts.yml").write_text(json.dumps({"all": {"children": {"gpu_nodes": {
        "hosts": {name: None for name in hosts}}}}}))
    (directory / "group_vars").symlink_to(REPO / "testbed/inventories/local/group_vars")
    return directory


def module_results(report: dict, task_prefix: str) -> int:
    return sum(bool(result.get("changed")) for play in report["plays"] for task in play["tasks"]
               if task["task"]["name"].startswith(task_prefix) for result in task["hosts"].values())


def converge(size: int, second: bool, reports: Path | None, node_cpus: float | None) -> dict:
    hosts = [f"{PREFIX}{i}" for i in range(1, size + 1)]
    remove_nodes()
    cap = {"cpus": node_cpus} if node_cpus else {}
    nodes = json.dumps({"fleet_nodes": [{"name": h, **cap} for h in hosts]})
    setup, _, _ = ansible_playbook("testbed/fleet-nodes.yml", "-e", nodes, json_out=False)
    with tempfile.TemporaryDirectory() as tmp:
        inv = str(inventory(Path(tmp), hosts))
        wall, cpu, report = ansible_playbook("site.yml", "-i", inv)
        if reports:
            (reports / f"converge-{size}.json").write_text(json.dumps(report))
        result = {
            "hosts": size,
            "node_setup_seconds": round(setup, 1),
            "converge_seconds": round(wall, 1),
            "cpu_seconds": round(cpu, 1),
            "cores_busy_percent": round(100 * cpu / (wall * CORES)),
            "builds": module_results(report, "trtllm.deploy.engine_build : Build the engine"),
            "copies": module_results(report, "trtllm.deploy.engine_build : Check every sha256 and swap"),
            "changed": sum(s.get("changed", 0) for s in report["stats"].values()),
            "failed": sum(s.get("failures", 0) + s.get("unreachable", 0) for s in report["stats"].values()),
        }
        if second:
            wall2, _, report2 = ansible_playbook("site.yml", "-i", inv)
            result["second_converge_seconds"] = round(wall2, 1)
            result["second_converge_changed"] = sum(s.get("changed", 0) for s in report2["stats"].values())
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    parser.add_argument("--sizes", default="1,2,4", help="fleet sizes (default 1,2,4)")
    parser.add_argument("--reports", type=Path, help="keep each converge's ansible.posix.json report here")
    parser.add_argument("--node-cpus", type=float, help="cap each node at this many CPUs (docker --cpus)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    try:
        runs = [converge(size, second=size == max(sizes), reports=args.reports,
                         node_cpus=args.node_cpus) for size in sizes]
    finally:
        remove_nodes()
    base = runs[0]["converge_seconds"]
    ratios = {str(r["hosts"]): round(r["converge_seconds"] / base, 3) for r in runs}
    result = {"cores": CORES, "node_cpus": args.node_cpus, "runs": runs, "ratio_vs_one_host": ratios}
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
