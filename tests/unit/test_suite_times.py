"""testbed/suite.py: the suite's timer reads Molecule's step lines and names the slowest steps."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("suite", REPO / "testbed" / "suite.py")
suite = importlib.util.module_from_spec(spec)
sys.modules["suite"] = suite
spec.loader.exec_module(suite)


def step_of(line: str) -> str | None:
    match = suite.STEP_LINE.search(suite.ANSI.sub("", line))
    return (match["step"] or match["tty_step"]) if match else None


def test_molecule_step_lines_are_read_in_both_of_its_forms():
    assert step_of("INFO     [fleet > side_effect] Executing") == "side_effect"
    assert step_of("\x1b[2mINFO\x1b[0m     fleet ➜ converge: Executing") == "converge"
    assert step_of("INFO     [fleet > converge] Executed: Successful") is None
    assert step_of("TASK [trtllm.deploy.trtllm : Remember the preflight passed] ***") is None


def test_the_slowest_steps_count_molecule_steps_apart_and_other_stages_whole():
    fleet = suite.Stage("molecule:fleet", seconds=900, rc=0, steps={"converge": 250, "side_effect": 500})
    stages = [suite.Stage("unit", seconds=80, rc=0), fleet, suite.Stage("cli", seconds=400, rc=0)]
    assert suite.slowest(stages) == [("molecule:fleet side_effect", 500), ("cli", 400),
                                     ("molecule:fleet converge", 250)]


def test_the_report_says_the_total_against_the_budget_and_names_a_failed_stage(tmp_path):
    stages = [suite.Stage("lint", seconds=50, cpu_seconds=60, rc=0), suite.Stage("unit", seconds=70, rc=2),
              suite.Stage("sim")]
    text = suite.report(stages, total=1900, cpu=3000)
    assert "total 31.7 min: OVER the budget of 30 min" in text
    assert "unit" in text and "FAILED (rc 2)" in text and "not run" in text
    assert "within the budget" in suite.report(stages, total=600, cpu=900)
    suite.write_times(stages, [["lint"], ["unit", "sim"]], 1900, 3000, tmp_path / "times.json")
    data = json.loads((tmp_path / "times.json").read_text())
    assert data["total_seconds"] == 1900 and data["budget_seconds"] == 1800
    assert data["lanes"] == [["lint"], ["unit", "sim"]]
    assert [s["name"] for s in data["stages"]] == ["lint", "unit", "sim"] and data["stages"][1]["rc"] == 2
