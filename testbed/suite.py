#!/usr/bin/env python3
"""Run the stages of `make test` one after another and say where the time went.

Each stage is a make target (the Makefile stays the one place that says what a stage runs);
a Molecule scenario is its own stage, timed per step (create, prepare, converge, idempotence,
verify, side_effect, destroy) from Molecule's own "scenario ➜ step: Executing" lines. At the end,
whether the run passed or not, it writes artifacts/test-times.json, prints a table, the total
against the suite's budget and the three slowest steps.

    python testbed/suite.py lint unit sim cli package molecule:fleet molecule:pipeline

Stages run in the order given; the first that fails stops the run (as make would) and is named.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUDGET_SECONDS = 30 * 60
TIMES = REPO / "artifacts" / "test-times.json"
# Every line of output with the seconds since the run started: where a step's time went, task by task.
LOG = REPO / "artifacts" / "test-output.log"
# Molecule 26 logs "INFO     <scenario> ➜ <step>: Executing" when a step starts.
STEP_LINE = re.compile(r"\b(?P<scenario>[\w-]+) ➜ (?P<step>\w+): Executing")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass
class Stage:
    name: str
    seconds: float = 0.0
    rc: int | None = None
    steps: dict[str, float] = field(default_factory=dict)

    def as_json(self) -> dict:
        entry: dict = {"name": self.name, "seconds": round(self.seconds, 1), "rc": self.rc}
        if self.steps:
            entry["steps"] = {step: round(seconds, 1) for step, seconds in self.steps.items()}
        return entry


def make_argv(stage: str) -> list[str]:
    """`molecule:NAME` runs one scenario; any other name is a make target."""
    if stage.startswith("molecule:"):
        return ["make", "--no-print-directory", "molecule", f"SCENARIOS={stage.split(':', 1)[1]}"]
    return ["make", "--no-print-directory", stage]


def run_stage(stage: Stage, log, run_started: float, clock=time.monotonic) -> Stage:
    """Run one stage, echoing its output (and into LOG, timestamped), and time it and its Molecule steps."""
    started = clock()
    step, step_started = None, started
    with subprocess.Popen(make_argv(stage.name), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, errors="replace", bufsize=1) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            log.write(f"[{clock() - run_started:8.1f}] {line}")
            match = STEP_LINE.search(ANSI.sub("", line))
            if match:
                now = clock()
                if step:
                    stage.steps[step] = stage.steps.get(step, 0.0) + now - step_started
                # destroy runs first and last: the two count together.
                step, step_started = match["step"], now
        stage.rc = proc.wait()
    now = clock()
    if step:
        stage.steps[step] = stage.steps.get(step, 0.0) + now - step_started
    stage.seconds = now - started
    return stage


def slowest(stages: list[Stage], count: int = 3) -> list[tuple[str, float]]:
    """The slowest steps of the run: Molecule steps by scenario, other stages whole."""
    items: list[tuple[str, float]] = []
    for stage in stages:
        if stage.steps:
            items += [(f"{stage.name} {step}", seconds) for step, seconds in stage.steps.items()]
        else:
            items.append((stage.name, stage.seconds))
    return sorted(items, key=lambda item: -item[1])[:count]


def report(stages: list[Stage], total: float, budget: float = BUDGET_SECONDS) -> str:
    lines = ["", "Test times (testbed/suite.py; artifacts/test-times.json)",
             f"{'stage':<24} {'step':<12} {'seconds':>8}"]
    for stage in stages:
        status = "" if stage.rc == 0 else f"  FAILED (rc {stage.rc})" if stage.rc is not None else "  not run"
        lines.append(f"{stage.name:<24} {'':<12} {stage.seconds:>8.1f}{status}")
        for step, seconds in stage.steps.items():
            lines.append(f"{'':<24} {step:<12} {seconds:>8.1f}")
    verdict = "within" if total <= budget else "OVER"
    lines.append(f"total {total / 60:.1f} min: {verdict} the budget of {budget / 60:.0f} min")
    lines.append("slowest: " + "; ".join(f"{name} {seconds:.0f}s" for name, seconds in slowest(stages)))
    return "\n".join(lines)


def write_times(stages: list[Stage], total: float, path: Path = TIMES) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "total_seconds": round(total, 1),
        "budget_seconds": BUDGET_SECONDS,
        "machine": {"cpus": os.cpu_count()},
        "stages": [stage.as_json() for stage in stages],
        "slowest": [{"step": name, "seconds": round(seconds, 1)} for name, seconds in slowest(stages)],
    }
    path.write_text(json.dumps(data, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stages", nargs="+", help="make targets, or molecule:SCENARIO")
    args = parser.parse_args(argv)
    stages = [Stage(name) for name in args.stages]
    started = time.monotonic()
    rc = 0
    LOG.parent.mkdir(parents=True, exist_ok=True)
    with LOG.open("w") as log:
        for stage in stages:
            run_stage(stage, log, started)
            if stage.rc != 0:
                rc = stage.rc or 1
                break
    total = time.monotonic() - started
    write_times(stages, total)
    print(report(stages, total), flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
