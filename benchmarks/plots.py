"""The report's plots as PNG bytes (matplotlib, no display), so report.html can embed them."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display on a device or in CI
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import ScalarFormatter


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
    bars = axes.barh(names, p50, xerr=spread, capsize=3, color=colours)
    axes.invert_yaxis()
    # linear: a reader compares bar lengths; each bar's figure is written beside it, so the short ones
    # stay readable beside a PyTorch baseline 10-50x longer
    axes.bar_label(bars, labels=[f"{v:.2f}" for v in p50], padding=4, fontsize=8)
    axes.set_xlim(0, max(r["p99_ms"] for r in rows) * 1.15)
    axes.xaxis.set_major_formatter(ScalarFormatter(useOffset=False))  # plain ms, no "+1e3" offset
    axes.set_xlabel("latency, batch 1, ms: bar p50 (value), whisker p99")
    axes.set_title("orange: PyTorch baseline   blue: artifact   grey: rejected by the gate", fontsize=9)
    return _png(figure)


def accuracy_vs_latency(rows: list[dict]) -> bytes:
    """One marker per artifact, named in a legend: artifacts of similar speed and accuracy sit on top
    of each other, and labels written beside the points collided there."""
    figure, axes = plt.subplots(figsize=(8, 4.5))
    shapes = "osD^v<>ph*"
    for index, r in enumerate(rows):
        marker = "x" if r.get("status") == "rejected" else shapes[index % len(shapes)]
        axes.scatter(r["p50_ms"], 100 * r["top1"], marker=marker, s=50, label=r["name"])
    axes.set_xlim(left=0)
    axes.set_xlabel("p50 latency (ms)")
    axes.set_ylabel("top-1 on the held-out split (%)")
    axes.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
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


def capacity(points: list[dict]) -> bytes:
    """Inferences per second per camera and frame age p99 against the number of H.264 cameras, per variant."""
    figure, (fps_axes, age_axes) = plt.subplots(1, 2, figsize=(10, 4))
    series: dict[str, list[dict]] = {}
    for point in points:
        label = f"{point['artifact']} ({point['task']}), {point['mode']}, {point['stream']}"
        series.setdefault(label, []).append(point)
    for label, run in series.items():
        run = sorted(run, key=lambda p: p["cameras"])
        counts = [p["cameras"] for p in run]
        fps_axes.plot(counts, [p["fps_per_camera"] for p in run], marker="o", label=label)
        age_axes.plot(counts, [p["frame_age_p99_ms"] for p in run], marker="o", label=label)
    targets = sorted({p["target_fps"] for p in points})
    for target in targets:
        fps_axes.axhline(target, color="#999999", linestyle="--", linewidth=1)
    age_axes.axhline(250, color="#c44e52", linestyle="--", linewidth=1)
    fps_axes.set_ylabel("inferences per second per camera (dashed: target)")
    age_axes.set_ylabel("frame age p99, ms (dashed: 250 ms goal)")
    age_axes.set_yscale("log")
    age_axes.yaxis.set_major_formatter(ScalarFormatter())
    for axes in (fps_axes, age_axes):
        axes.set_xlabel("H.264 cameras (640x360, 25 fps) on this box")
        axes.set_xticks(sorted({p["cameras"] for p in points}))
    fps_axes.set_ylim(bottom=0)
    fps_axes.legend(fontsize=7, loc="lower left")
    return _png(figure)
