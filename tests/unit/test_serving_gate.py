"""The acceptance gate over AIPerf's export: summary, absolute thresholds, regression against the last result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ansible_collections.trtllm.deploy.plugins.module_utils.serving_gate import ExportError, gate, summarize

DATA = Path(__file__).parent / "data" / "aiperf"


def recorded(name: str) -> dict:
    return json.loads((DATA / name).read_text())


def test_a_recorded_export_is_summarized_in_milliseconds_and_per_second():
    summary = summarize(recorded("tiny-stream-c2.json"))
    assert summary["complete"] and summary["requests"] > 0 and summary["errors"] == 0
    assert 0 < summary["ttft_p50_ms"] <= summary["ttft_p99_ms"] <= summary["latency_p99_ms"]
    assert summary["itl_p50_ms"] > 0 and summary["output_tokens_per_s"] > 0 and summary["requests_per_s"] > 0


def test_units_other_than_milliseconds_are_converted_and_a_foreign_file_refused():
    export = {"request_count": {"unit": "requests", "avg": 10},
              "time_to_first_token": {"unit": "ns", "p50": 2_000_000, "p99": 5_000_000}}
    summary = summarize(export)
    assert (summary["ttft_p50_ms"], summary["ttft_p99_ms"], summary["itl_p50_ms"]) == (2.0, 5.0, None)
    with pytest.raises(ExportError, match="not an AIPerf profile export"):
        summarize({"hello": 1})
    with pytest.raises(ExportError, match="not a unit of time"):
        summarize({"request_count": {"avg": 1}, "time_to_first_token": {"unit": "tokens", "p50": 1}})


def test_absolute_thresholds_say_the_metric_the_value_and_the_limit():
    summary = summarize(recorded("tiny-stream-c2.json"))
    assert gate(summary, {"ttft_p99_ms_max": summary["ttft_p99_ms"] * 2, "errors_max": 0}) == []
    problems = gate(summary, {"ttft_p99_ms_max": summary["ttft_p99_ms"] / 2,
                              "output_tokens_per_s_min": summary["output_tokens_per_s"] * 2})
    assert problems == [
        f"output_tokens_per_s {summary['output_tokens_per_s']:g} is below output_tokens_per_s_min "
        f"{summary['output_tokens_per_s'] * 2:g}",
        f"ttft_p99_ms {summary['ttft_p99_ms']:g} is above ttft_p99_ms_max {summary['ttft_p99_ms'] / 2:g}"]
    with pytest.raises(ValueError, match="unknown threshold 'ttft_max'"):
        gate(summary, {"ttft_max": 1})


def test_a_slower_run_than_the_last_accepted_one_fails_the_regression_limit():
    fast, slow = summarize(recorded("tiny-stream-c2.json")), summarize(recorded("tiny-stream-c2-slowed.json"))
    assert gate(fast, previous=fast, regression_limit=0.1) == []
    problems = gate(slow, previous=fast, regression_limit=0.1)
    assert any(p.startswith("output_tokens_per_s ") and "below the previous" in p for p in problems), problems
    assert any(p.startswith("itl_p50_ms ") and "above the previous" in p for p in problems), problems
    assert gate(fast, previous=slow, regression_limit=0.1) == [], "faster is never a regression"


def test_an_incomplete_or_empty_run_fails():
    assert gate({"complete": False, "requests": 3}) == ["the benchmark did not complete"]
    assert gate({"complete": True, "requests": 0}) == ["no request was answered"]
