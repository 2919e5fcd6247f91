"""The report's plots as PNG bytes (matplotlib, no display), so report.html can embed them."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display on a device or in CI
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter, ScalarFormatter


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()


def latency_bars(rows: list[dict]) -> bytes:
    """p50 per row as a bar, with a whisker up to p99: the spread a camera will actually see."""
    figure, axes = plt.subplots(figsize=(8, 0.5 * len(rows) + 1.5))
    names = [r["name"] for r in rows]
    p50 = [r["p50_ms"] for r in rows]
    spread = [[0] * len(rows), [r["p99_ms"] - r["p50_ms"] for r in rows]]
    colours = [
        "#999999" if r.get("status") == "rejected" else "#dd8452" if r["backend"] == "pytorch" else "#4c72b0"
        for r in rows
    ]
    axes.barh(names, p50, xerr=spread, capsize=3, color=colours)
    axes.invert_yaxis()
    axes.set_xscale("log")  # the PyTorch baseline is often 10-50x the artifacts
    axes.xaxis.set_major_formatter(ScalarFormatter())
    axes.set_xlabel("latency, batch 1, ms (log): bar p50, whisker p99")
    axes.set_title("orange: PyTorch baseline   blue: artifact   grey: rejected by the gate", fontsize=9)
    return _png(figure)


def accuracy_vs_latency(rows: list[dict]) -> bytes:
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for r in rows:
        marker = "x" if r.get("status") == "rejected" else "o"
        axes.scatter(r["p50_ms"], 100 * r["top1"], marker=marker)
        axes.annotate(
            r["name"], (r["p50_ms"], 100 * r["top1"]), fontsize=7, xytext=(4, 2), textcoords="offset points"
        )
    axes.set_xscale("log")
    axes.xaxis.set_major_formatter(ScalarFormatter())
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.set_xlabel("p50 latency (ms, log scale)")
    axes.set_ylabel("top-1 on the held-out split (%)")
    return _png(figure)


def camera_scaling(cameras: list[dict]) -> bytes:
    figure, (fps_axes, age_axes) = plt.subplots(1, 2, figsize=(9, 3.5))
    counts = [c["count"] for c in cameras]
    fps_axes.plot(counts, [c["fps_per_camera"] for c in cameras], marker="o")
    fps_axes.set_xlabel("cameras")
    fps_axes.set_ylabel("fps per camera")
    fps_axes.set_ylim(bottom=0)
    age_axes.plot(counts, [c["frame_age_p99_ms"] for c in cameras], marker="o", color="#c44e52")
    age_axes.set_xlabel("cameras")
    age_axes.set_ylabel("frame age p99 (ms)")
    age_axes.set_ylim(bottom=0)
    for axes in (fps_axes, age_axes):
        axes.set_xticks(counts)
    return _png(figure)
