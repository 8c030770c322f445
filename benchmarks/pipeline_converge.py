#!/usr/bin/env python3
"""Benchmark: site.yml on a fresh simulated node, then a no-op second converge.

Splits the first converge's wall time into the work the pipeline waits on
(checkpoint conversion, engine build, server start until ready) and the
automation's own overhead (everything else: Ansible, git, docker, checks), and
reports the ratios. Numbers are from one run on this machine; run it with
`make benchmark` (it replaces the node trtllm-node-local).

With --large-gb N it does the same a second time with a model (and so a checkpoint and an
engine) of N GB more (an inert tensor the stand-ins carry, tiny.py --pad-bytes, served by the
stand-in Hub: testbed/hub/start.py --pad-bytes) and reports the ratio of the two no-op
converges: nothing of a large model may be downloaded, hashed or copied again. It also
counts the files on the node that hold the engine's bytes (rank0.engine's sha256): one per
host means the engine was written once, not copied into the model repository.

    .venv/bin/python benchmarks/pipeline_converge.py [--large-gb 2] [--json FILE]
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
    "server start": ("Run the server", "Wait for the models"),
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


# Run on the node: the files under the model and repository trees with rank0.engine's content.
ENGINE_COPIES = """
import hashlib, os, sys
def sha(p):
    h = hashlib.sha256()
    with open(p, 'rb') as f:
        for b in iter(lambda: f.read(1 << 24), b''):
            h.update(b)
    return h.hexdigest()
engine = sys.argv[1]
size, want = os.path.getsize(engine), sha(engine)
found = [os.path.join(d, n) for top in sys.argv[2:] for d, _, names in os.walk(top) for n in names]
print(sum(1 for p in found if os.path.isfile(p) and os.path.getsize(p) == size and sha(p) == want), size)
"""
NODE = "trtllm-node-local"
ENGINE = "/root/models/trt/Tiny-Llama-Sim-trt-engine/rank0.engine"


def engine_copies() -> tuple[int, int]:
    argv = ["docker", "exec", NODE, "python3", "-c", ENGINE_COPIES, ENGINE, "/root/models", "/opt/trtllm"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout.split()
    return int(out[0]), int(out[1])


def hub(pad_bytes: int | None) -> None:
    """The stand-in Hub serving the tiny model with pad_bytes more (None: its default content)."""
    argv = [sys.executable, str(REPO / "testbed" / "hub" / "start.py")]
    subprocess.run(argv + ([] if pad_bytes is None else ["--pad-bytes", str(pad_bytes)]), check=True,
                   capture_output=True)


def measure(pad_bytes: int | None) -> dict:
    subprocess.run(["docker", "rm", "-f", NODE], capture_output=True)
    pad = [] if pad_bytes is None else ["-e", f"testbed_hub_pad_bytes={pad_bytes}"]
    node_wall, _ = run_playbook("testbed/node.yml", *pad)
    first_wall, first = run_playbook("site.yml", "-i", "testbed/inventories/local")
    copies, engine_bytes = engine_copies()
    # No-op converges, best of two (the same work; the lower is the less disturbed).
    second_wall, second = min((run_playbook("site.yml", "-i", "testbed/inventories/local") for _ in range(2)),
                              key=lambda run: run[0])
    per_task = task_seconds(first)
    work = {}
    for label, prefixes in WORK_TASKS.items():
        prefixes = (prefixes,) if isinstance(prefixes, str) else prefixes
        work[label] = round(sum(s for name, s in per_task.items() if any(p in name for p in prefixes)), 2)
    inside = sum(work.values())
    return {
        "node_setup_seconds": round(node_wall, 1),
        "first_converge_seconds": round(first_wall, 1),
        "first_converge_work_seconds": work,
        "first_converge_overhead_seconds": round(first_wall - inside, 1),
        "overhead_share": round((first_wall - inside) / first_wall, 3),
        "first_converge_changed": changed(first),
        "second_converge_seconds": round(second_wall, 1),
        "second_converge_changed": changed(second),
        "second_vs_first": round(second_wall / first_wall, 3),
        "second_converge_slowest_tasks": dict(sorted(
            ((name, round(s, 2)) for name, s in task_seconds(second).items()), key=lambda kv: -kv[1])[:8]),
        "engine_rank0_bytes": engine_bytes,
        "engine_copies_on_node": copies,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--large-gb", type=float, default=0.0, help="also measure a checkpoint this much larger")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    result = {"tiny": measure(None)}
    if args.large_gb:
        try:
            result["large"] = measure(int(args.large_gb * (1 << 30)))
        finally:
            hub(None)
        result["noop_large_vs_tiny"] = round(result["large"]["second_converge_seconds"]
                                             / result["tiny"]["second_converge_seconds"], 3)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
