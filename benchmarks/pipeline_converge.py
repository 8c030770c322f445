#!/usr/bin/env python3
"""Benchmark: site.yml on a fresh simulated node, then a no-op second converge.

Splits the first converge's wall time into the work the pipeline waits on
(checkpoint conversion, engine build, server start until ready) and the
automation's own overhead (everything else: Ansible, git, docker, checks), and
reports the ratios. Numbers are from one run on this machine; run it with
`make benchmark` (it replaces the node trtllm-node-local).

    .venv/bin/python benchmarks/pipeline_converge.py [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORK_TASKS = {
    "convert": "Convert the Hugging Face checkpoint",
    "build": "Build the engine",
    "server start": ("Launch Triton", "Poll /v2/health/ready"),
}


def run_playbook(*args: str) -> tuple[float, dict]:
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1")
    started = time.monotonic()
    proc = subprocess.run(["ansible-playbook", *args], cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit(f"ansible-playbook {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    return wall, json.loads(proc.stdout)


def task_seconds(report: dict) -> dict[str, float]:
    """Seconds per task name, summed over hosts' start/end."""
    seconds: dict[str, float] = {}
    for play in report["plays"]:
        for task in play["tasks"]:
            name = task["task"]["name"]
            duration = task["task"].get("duration") or {}
            if duration.get("start") and duration.get("end"):
                from datetime import datetime

                start = datetime.fromisoformat(duration["start"].replace("Z", "+00:00"))
                end = datetime.fromisoformat(duration["end"].replace("Z", "+00:00"))
                seconds[name] = seconds.get(name, 0.0) + (end - start).total_seconds()
    return seconds


def changed(report: dict) -> int:
    return sum(stats.get("changed", 0) for stats in report["stats"].values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    subprocess.run(["docker", "rm", "-f", "trtllm-node-local"], capture_output=True)
    node_wall, _ = run_playbook("testbed/node.yml")
    first_wall, first = run_playbook("site.yml", "-i", "inventories/local")
    second_wall, second = run_playbook("site.yml", "-i", "inventories/local")
    per_task = task_seconds(first)
    work = {}
    for label, prefixes in WORK_TASKS.items():
        prefixes = (prefixes,) if isinstance(prefixes, str) else prefixes
        work[label] = round(sum(s for name, s in per_task.items() if any(p in name for p in prefixes)), 2)
    inside = sum(work.values())
    result = {
        "node_setup_seconds": round(node_wall, 1),
        "first_converge_seconds": round(first_wall, 1),
        "first_converge_work_seconds": work,
        "first_converge_overhead_seconds": round(first_wall - inside, 1),
        "overhead_share": round((first_wall - inside) / first_wall, 3),
        "first_converge_changed": changed(first),
        "second_converge_seconds": round(second_wall, 1),
        "second_converge_changed": changed(second),
        "second_vs_first": round(second_wall / first_wall, 3),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
