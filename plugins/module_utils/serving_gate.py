# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The serving benchmark's numbers and the acceptance gate over them.

No Ansible imports. summarize() reads AIPerf's `profile_export_aiperf.json` (aiperf 0.13.0, JsonExportData schema
1.4: per metric `unit`, `avg`, `min`, `max`, `p1` ... `p99`, `std`); gate() compares a summary with absolute
thresholds and, when there is one, with the previous result for the same engine key and GPU kind.
"""

from __future__ import annotations

# Ours: (AIPerf's metric tag, the statistic). Latencies in milliseconds, throughputs per second.
METRICS = {
    "ttft_p50_ms": ("time_to_first_token", "p50"),
    "ttft_p99_ms": ("time_to_first_token", "p99"),
    "itl_p50_ms": ("inter_token_latency", "p50"),
    "itl_p99_ms": ("inter_token_latency", "p99"),
    "latency_p50_ms": ("request_latency", "p50"),
    "latency_p99_ms": ("request_latency", "p99"),
    "output_tokens_per_s": ("output_token_throughput", "avg"),
    "requests_per_s": ("request_throughput", "avg"),
    "requests": ("request_count", "avg"),
    "errors": ("error_request_count", "avg"),
}
TO_MS = {"ms": 1.0, "ns": 1e-6, "us": 1e-3, "s": 1e3, "sec": 1e3}
# Which way is worse, for the regression limit.
HIGHER_IS_BETTER = {"output_tokens_per_s", "requests_per_s"}
LOWER_IS_BETTER = {"ttft_p50_ms", "ttft_p99_ms", "itl_p50_ms", "itl_p99_ms", "latency_p50_ms", "latency_p99_ms"}


class ExportError(ValueError):
    """An AIPerf export this module cannot read (its words say what is missing)."""


def summarize(export: dict) -> dict:
    """Our summary of one AIPerf run: the METRICS (None where AIPerf reported none), and whether it completed."""
    if not isinstance(export, dict) or "request_throughput" not in export and "request_count" not in export:
        raise ExportError("not an AIPerf profile export (no request_throughput or request_count)")
    summary = {}
    for ours, (tag, statistic) in METRICS.items():
        metric = export.get(tag) or {}
        value = metric.get(statistic)
        if value is not None and ours.endswith("_ms"):
            unit = str(metric.get("unit", "ms")).lower()
            if unit not in TO_MS:
                raise ExportError(f"{tag} is in {unit!r}, not a unit of time")
            value = float(value) * TO_MS[unit]
        summary[ours] = None if value is None else round(float(value), 3)
    summary["errors"] = int(summary["errors"] or 0)
    summary["requests"] = int(summary["requests"] or 0)
    summary["complete"] = export.get("is_complete") is not False and not export.get("was_cancelled")
    return summary


def gate(summary: dict, thresholds: dict | None = None, previous: dict | None = None,
         regression_limit: float | None = None) -> list[str]:
    """Problems of a run against the gate, each with its numbers; empty when it passes.

    thresholds: NAME_max or NAME_min for any METRICS name (e.g. ttft_p99_ms_max, output_tokens_per_s_min,
    errors_max). previous: the summary of the last accepted run for the same engine key and GPU kind;
    regression_limit: the fraction a latency may grow or a throughput shrink against it (0.1: 10 %)."""
    problems = []
    if not summary.get("complete", True):
        problems.append("the benchmark did not complete")
    if not summary.get("requests"):
        problems.append("no request was answered")
    for name, limit in sorted((thresholds or {}).items()):
        if limit is None:
            continue
        metric, _, bound = name.rpartition("_")
        if bound not in ("max", "min") or metric not in METRICS:
            raise ValueError(f"unknown threshold {name!r}: NAME_max or NAME_min with NAME one of {', '.join(METRICS)}")
        value = summary.get(metric)
        if value is None:
            problems.append(f"{metric} was not measured (threshold {name} {limit})")
        elif bound == "max" and value > float(limit):
            problems.append(f"{metric} {value:g} is above {name} {float(limit):g}")
        elif bound == "min" and value < float(limit):
            problems.append(f"{metric} {value:g} is below {name} {float(limit):g}")
    if previous and regression_limit is not None:
        limit = float(regression_limit)
        for metric in sorted(HIGHER_IS_BETTER | LOWER_IS_BETTER):
            now, before = summary.get(metric), previous.get(metric)
            if now is None or not before:
                continue
            change = (now - before) / before
            if metric in HIGHER_IS_BETTER and change < -limit:
                problems.append(f"{metric} {now:g} is {-change:.0%} below the previous {before:g} "
                                f"(regression limit {limit:.0%})")
            elif metric in LOWER_IS_BETTER and change > limit:
                problems.append(f"{metric} {now:g} is {change:.0%} above the previous {before:g} "
                                f"(regression limit {limit:.0%})")
    return problems
