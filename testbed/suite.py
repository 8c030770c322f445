#!/usr/bin/env python3
"""Run the stages of `make test` and say where the time went.

Each stage is a make target (the Makefile stays the one place that says what a stage runs): `NAME`
runs `make _NAME`, the stage without its set-up; `molecule:SCENARIO` runs one Molecule scenario,
timed per step (create, prepare, converge, idempotence, verify, side_effect, destroy) from
Molecule's own "[scenario > step] Executing" lines. The positional stages run first, one after
another (the set-up); then the lanes run at the same time, each lane's stages one after another,
so a stage that keeps one core busy (one simulated host) runs beside another. A failed stage
stops its lane; the other lanes finish the stage they are in and start no other.

At the end, whether the run passed or not, it writes artifacts/test-times.json (each stage's
seconds and the machine's busy CPU seconds meanwhile), artifacts/test-output.log (every line
with the seconds since the start, prefixed by its stage), prints a table, the total against the
suite's budget and the three slowest steps.

    python3 testbed/suite.py images --lane "lint unit" --lane "molecule:fleet"
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUDGET_SECONDS = 30 * 60
TIMES = REPO / "artifacts" / "test-times.json"
LOG = REPO / "artifacts" / "test-output.log"
# Molecule 26 logs "INFO     [<scenario> > <step>] Executing" when a step starts ("<scenario> ➜ <step>:
# Executing" on a terminal).
STEP_LINE = re.compile(r"(?:\[[\w-]+ > (?P<step>\w+)\]|\b[\w-]+ ➜ (?P<tty_step>\w+):) Executing")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
HZ = os.sysconf("SC_CLK_TCK")


def disk_mib() -> tuple[float, float]:
    """MiB written and discarded so far on the machine's disks (/sys/block/*/stat; loop and zram devices left out)."""
    written = discarded = 0
    for stat in Path("/sys/block").glob("*/stat"):
        if stat.parent.name.startswith(("loop", "zram", "ram")):
            continue
        fields = [int(v) for v in stat.read_text().split()]
        written += fields[6]
        discarded += fields[13] if len(fields) > 13 else 0
    return written * 512 / 2**20, discarded * 512 / 2**20


def cpu_busy_seconds() -> float:
    """The machine's busy CPU time so far (all cores): /proc/stat's cpu line less idle and iowait."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / HZ


@dataclass
class Stage:
    name: str
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    written_mib: float = 0.0
    rc: int | None = None
    steps: dict[str, float] = field(default_factory=dict)

    def as_json(self) -> dict:
        entry: dict = {"name": self.name, "seconds": round(self.seconds, 1), "cpu_seconds": round(self.cpu_seconds, 1),
                       "written_mib": round(self.written_mib), "rc": self.rc}
        if self.steps:
            entry["steps"] = {step: round(seconds, 1) for step, seconds in self.steps.items()}
        return entry


class Output:
    """Lines to the console and, timestamped, to the log; one writer at a time."""

    def __init__(self, log, started: float, prefix: bool):
        self.log, self.started, self.prefix, self.lock = log, started, prefix, threading.Lock()

    def line(self, stage: str, text: str) -> None:
        head = f"[{stage}] " if self.prefix else ""
        with self.lock:
            sys.stdout.write(head + text)
            sys.stdout.flush()
            self.log.write(f"[{time.monotonic() - self.started:8.1f}] {head}{text}")
            self.log.flush()


def make_argv(stage: str) -> list[str]:
    """`molecule:NAME` runs one scenario; any other name is the make target `_NAME`."""
    if stage.startswith("molecule:"):
        return ["make", "--no-print-directory", "_molecule", f"SCENARIOS={stage.split(':', 1)[1]}"]
    return ["make", "--no-print-directory", f"_{stage}"]


def run_stage(stage: Stage, out: Output, clock=time.monotonic) -> Stage:
    """Run one stage, echoing its output, and time it and its Molecule steps."""
    started, cpu_started, written_started = clock(), cpu_busy_seconds(), disk_mib()[0]
    step, step_started = None, started
    # Unbuffered: a line's time in the log is when it was printed (Molecule's step lines time the steps).
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with subprocess.Popen(make_argv(stage.name), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, errors="replace", bufsize=1, env=env) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            out.line(stage.name, line)
            match = STEP_LINE.search(ANSI.sub("", line))
            if match:
                now = clock()
                if step:
                    stage.steps[step] = stage.steps.get(step, 0.0) + now - step_started
                # destroy runs first and last: the two count together.
                step, step_started = match["step"] or match["tty_step"], now
        stage.rc = proc.wait()
    now = clock()
    if step:
        stage.steps[step] = stage.steps.get(step, 0.0) + now - step_started
    stage.seconds = now - started
    stage.cpu_seconds = cpu_busy_seconds() - cpu_started
    stage.written_mib = disk_mib()[0] - written_started
    return stage


def run_lanes(lanes: list[list[Stage]], out: Output) -> int:
    """Each lane's stages one after another, the lanes side by side; the first failure's rc."""
    failed: list[int] = []

    def lane(stages: list[Stage]) -> None:
        for stage in stages:
            if failed:
                return
            run_stage(stage, out)
            if stage.rc != 0:
                failed.append(stage.rc or 1)
                return

    threads = [threading.Thread(target=lane, args=(stages,)) for stages in lanes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failed[0] if failed else 0


def slowest(stages: list[Stage], count: int = 3) -> list[tuple[str, float]]:
    """The slowest steps of the run: Molecule steps by scenario, other stages whole."""
    items: list[tuple[str, float]] = []
    for stage in stages:
        if stage.steps:
            items += [(f"{stage.name} {step}", seconds) for step, seconds in stage.steps.items()]
        else:
            items.append((stage.name, stage.seconds))
    return sorted(items, key=lambda item: -item[1])[:count]


def report(stages: list[Stage], total: float, cpu: float, budget: float = BUDGET_SECONDS) -> str:
    lines = ["", "Test times (testbed/suite.py; artifacts/test-times.json; stages of one lane are indented alike)",
             f"{'stage':<24} {'step':<12} {'seconds':>8} {'cpu s':>8} {'MiB written':>11}"]
    for stage in stages:
        status = "" if stage.rc == 0 else f"  FAILED (rc {stage.rc})" if stage.rc is not None else "  not run"
        lines.append(f"{stage.name:<24} {'':<12} {stage.seconds:>8.1f} {stage.cpu_seconds:>8.1f} "
                     f"{stage.written_mib:>11.0f}{status}")
        for step, seconds in stage.steps.items():
            lines.append(f"{'':<24} {step:<12} {seconds:>8.1f}")
    verdict = "within" if total <= budget else "OVER"
    cores = cpu / total if total else 0.0
    lines.append(f"total {total / 60:.1f} min: {verdict} the budget of {budget / 60:.0f} min "
                 f"({cpu / 60:.1f} CPU min, {cores:.2f} of {os.cpu_count()} cores busy on average)")
    lines.append("slowest: " + "; ".join(f"{name} {seconds:.0f}s" for name, seconds in slowest(stages)))
    return "\n".join(lines)


def write_times(stages: list[Stage], lanes: list[list[str]], total: float, cpu: float, path: Path = TIMES) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "total_seconds": round(total, 1),
        "cpu_seconds": round(cpu, 1),
        "budget_seconds": BUDGET_SECONDS,
        "machine": {"cpus": os.cpu_count()},
        "lanes": lanes,
        "stages": [stage.as_json() for stage in stages],
        "slowest": [{"step": name, "seconds": round(seconds, 1)} for name, seconds in slowest(stages)],
    }
    path.write_text(json.dumps(data, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stages", nargs="*", help="stages run first, one after another: make targets or "
                                                  "molecule:SCENARIO")
    parser.add_argument("--lane", action="append", default=[], metavar="'STAGE ...'",
                        help="stages run one after another, beside the other lanes")
    args = parser.parse_args(argv)
    first = [Stage(name) for name in args.stages]
    lanes = [[Stage(name) for name in lane.split()] for lane in args.lane]
    started, cpu_started = time.monotonic(), cpu_busy_seconds()
    rc = 0
    LOG.parent.mkdir(parents=True, exist_ok=True)
    with LOG.open("w") as log:
        out = Output(log, started, prefix=len(lanes) > 1)
        for stage in first:
            run_stage(stage, out)
            if stage.rc != 0:
                rc = stage.rc or 1
                break
        if rc == 0 and lanes:
            rc = run_lanes(lanes, out)
    total, cpu = time.monotonic() - started, cpu_busy_seconds() - cpu_started
    stages = first + [stage for lane in lanes for stage in lane]
    write_times(stages, [[s.name for s in lane] for lane in lanes], total, cpu)
    print(report(stages, total, cpu), flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
