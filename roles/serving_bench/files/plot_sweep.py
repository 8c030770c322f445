"""Throughput against latency over a concurrency sweep, as a PNG: reads the serving_bench report (JSON) on stdin.

Run with the AIPerf virtualenv's python (matplotlib is one of AIPerf's dependencies)."""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(out: str) -> None:
    report = json.load(sys.stdin)
    points = sorted((int(c), s) for c, s in report["sweep"].items())
    figure, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    panels = (("ttft_p50_ms", "TTFT p50 (ms)"), ("itl_p50_ms", "inter-token latency p50 (ms)"))
    for ax, (key, label) in zip(axes, panels, strict=True):
        xs = [s.get(key) or 0 for _, s in points]
        ys = [s.get("output_tokens_per_s") or 0 for _, s in points]
        ax.plot(xs, ys, marker="o")
        ax.margins(0.12)  # room for the last point's label
        for (concurrency, _), x, y in zip(points, xs, ys, strict=True):
            ax.annotate(f"c={concurrency}", (x, y), textcoords="offset points", xytext=(4, 4))
        ax.set_xlabel(label)
        ax.set_ylabel("output tokens/s")
        ax.grid(True, alpha=0.3)
    figure.suptitle(f"{report['endpoint']}  engine {report['engine_key']}  {report['gpu']}"
                    f"{' (CPU stand-in of the test bed)' if str(report.get('stand_in')) == 'True' else ''}  "
                    f"(aiperf {report['aiperf']}, {report['input_tokens']} in / {report['output_tokens']} out)",
                    fontsize=9)
    figure.savefig(out, dpi=100)


if __name__ == "__main__":
    main(sys.argv[1])
