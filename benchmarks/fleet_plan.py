#!/usr/bin/env python3
"""Benchmark: planning a fleet (module_utils/fleet_plan.make_plan) of N hosts, N from 50 to 1,000.

The fleet is the unit tests' 50-host one (mixed GPU kinds, two clusters, two balancers), repeated to N hosts.
Every host computes the plan (the action runs once per host), so a run of N hosts plans N times: the
table shows one plan and N plans, on this machine's CPU.

    .venv/bin/python benchmarks/fleet_plan.py [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "tests" / "unit"), str(REPO / ".collections")]
from test_fleet_plan import fleet_of_50  # noqa: E402

from ansible_collections.trtllm.deploy.plugins.module_utils import fleet_plan  # noqa: E402


def fleet(size: int):
    base_hosts, base_groups = fleet_of_50()
    hosts, groups = {}, {}
    for copy in range(size // 50):
        rename = {name: f"{name}-{copy}" for name in base_hosts}
        for name, entry in base_hosts.items():
            hosts[rename[name]] = json.loads(json.dumps(entry).replace('"c', f'"c{copy}-'))
        for group, members in base_groups.items():
            groups.setdefault(group, []).extend(rename[name] for name in members)
    return hosts, groups


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="write the results here too")
    args = parser.parse_args()
    rows = []
    for size in (50, 200, 1000):
        hosts, groups = fleet(size)
        started = time.perf_counter()
        plan = fleet_plan.make_plan(hosts, groups, groups["gpu_nodes"], serial="10%")
        one = time.perf_counter() - started
        rows.append({"gpu_hosts": len(plan["hosts"]), "one_plan_s": round(one, 4),
                     "every_host_plans_s": round(one * len(plan["hosts"]), 2)})
        print(f"{rows[-1]['gpu_hosts']:5d} GPU hosts: one plan {one * 1000:8.1f} ms, "
              f"each host once {one * len(plan['hosts']):7.2f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
