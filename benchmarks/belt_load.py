"""``python -m benchmarks.belt_load --bundle B --video-dir runs/demo/data/video --out DIR``: belt-load figures.

Runs a segment bundle over every frame of the generated belt video with the site's belt-load settings
(``configs/site-belt-demo.yaml`` by default) and compares with the generator's truth (``frames.csv``
column ``belt_load``, ``belt_truth.jsonl``):

- load-estimate error per frame (MAE, 95th percentile of the absolute error, bias), raw and smoothed;
- the overload events against the truth intervals;
- an energy proxy of the recommended speed profile against constant full speed. The model: the part
  of a conveyor's drive power that a speed change saves (belt, idler and drive losses) grows in
  proportion to the belt speed, while lifting the coal costs the same per tonne at any speed, so
  ``saving = 1 - mean(v) / v_max`` (``--exponent k`` uses ``v**k`` instead). The video is a recording
  at constant speed, so this is open loop: the recommendation is what a closed loop would set.

The same monitor fed with the truth instead of the model's masks gives the saving a perfect
segmenter would earn, so the model's share of any difference is visible.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_runtime.beltload import OVERLOAD_TYPE, BeltLoadMonitor
from edge_runtime.capture import iter_frames
from edge_runtime.cli_types import positive_float
from edge_runtime.config import SiteConfig, load_site_config
from edge_runtime.errors import AditError, ConfigError
from edge_runtime.events import Event, compare_events, read_truth
from edge_runtime.sources import Frame, open_source
from edge_runtime.startup import belt_monitor, load_model, verify_site
from edge_runtime.timing import StageTimers

DEFAULT_SITE = Path("configs/site-belt-demo.yaml")
TOLERANCE_S = 1.0  # an overload may be flagged this long after its truth interval (smoothing + hold)


@dataclass(frozen=True)
class Trace:
    """One pass of the monitor over the video: per-frame loads and speeds, and its overload events."""

    raw: np.ndarray
    smoothed: np.ndarray
    speed: np.ndarray
    events: list[Event]


def _trace(monitor: BeltLoadMonitor, frames: list[Frame], loads: list[float]) -> Trace:
    raw, smoothed, speed, events = [], [], [], []
    for frame, load in zip(frames, loads, strict=True):
        events += monitor.feed(frame, load)
        state = monitor.states[frame.camera]
        raw.append(state.raw_load)
        smoothed.append(state.load)
        speed.append(state.speed_mps)
    events += monitor.close()
    return Trace(np.array(raw), np.array(smoothed), np.array(speed), events)


def _errors(estimate: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    error = estimate - truth
    return {
        "mae": round(float(np.abs(error).mean()), 4),
        "p95_abs": round(float(np.percentile(np.abs(error), 95)), 4),
        "bias": round(float(error.mean()), 4),
    }


def _saving(speed: np.ndarray, max_mps: float, exponent: float) -> float:
    return round(float(1.0 - np.mean((speed / max_mps) ** exponent)), 4)


def read_truth_loads(video_dir: Path) -> np.ndarray:
    path = video_dir / "frames.csv"
    try:
        with path.open() as handle:
            return np.array([float(row["belt_load"]) for row in csv.DictReader(handle)])
    except (OSError, KeyError, ValueError) as exc:
        raise ConfigError(
            f"{path}: no belt_load truth ({exc}); regenerate with python -m train.synth"
        ) from exc


def belt_figures(config: SiteConfig, video_dir: Path, *, artifact: str | None, exponent: float) -> dict:
    """Measure one artifact of the site's bundle on the video in ``video_dir``."""
    config = config.model_copy(update={"model": config.model.model_copy(update={"artifact": artifact})})
    bundle = verify_site(config)
    if config.belt_load is None:
        raise ConfigError("belt_load: the site configuration has no belt_load section")
    model = load_model(bundle, config.model)
    truth = read_truth_loads(video_dir)
    settings = config.camera().model_copy(
        update={"source": str(video_dir / "belt.avi"), "loop": False, "realtime": False}
    )
    measure = belt_monitor(config, bundle)
    frames, measured = [], []
    with closing(open_source(settings)) as source:
        for frame in iter_frames(source, StageTimers()):
            measure.update(frame, model.segment([frame.image])[0])
            measured.append(measure.states[frame.camera].raw_load)
            frames.append(Frame(frame.camera, frame.index, frame.ts, frame.pts_s, frame.image[:1, :1]))
    if len(frames) != len(truth):
        raise ConfigError(f"{video_dir}: {len(frames)} frames decoded but frames.csv has {len(truth)} rows")
    estimated = _trace(belt_monitor(config, bundle), frames, measured)
    oracle = _trace(belt_monitor(config, bundle), frames, list(truth))
    fps = len(frames) / max(frames[-1].pts_s, 1e-9) if len(frames) > 1 else 1.0
    overloads = read_truth(video_dir / "belt_truth.jsonl")
    match = compare_events(
        [e for e in estimated.events if e.type == OVERLOAD_TYPE], overloads, round(TOLERANCE_S * fps)
    )
    speed = config.belt_load.speed
    return {
        "artifact": model.artifact.key,
        "frames": len(frames),
        "raw": _errors(estimated.raw, truth),
        "smoothed": _errors(estimated.smoothed, oracle.smoothed),
        "overloads": {
            "truth": len(overloads),
            "matched": len(match.matched),
            "missed": len(match.missed),
            "false": len(match.false),
        },
        "energy": {
            "exponent": exponent,
            "saving": _saving(estimated.speed, speed.max_mps, exponent),
            "saving_with_true_load": _saving(oracle.speed, speed.max_mps, exponent),
            "mean_speed_mps": round(float(estimated.speed.mean()), 3),
            "max_mps": speed.max_mps,
        },
        "series": {"truth": truth, "estimate": estimated, "oracle": oracle, "fps": fps},
    }


def plot(result: dict, path: Path) -> None:
    """Load (truth, estimate, smoothed) and recommended speed over the video."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = result["series"]
    t = np.arange(len(series["truth"])) / series["fps"]
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5), sharex=True)
    top.plot(t, series["truth"], label="truth (generator)", color="black", lw=1)
    top.plot(t, series["estimate"].raw, label=f"estimate ({result['artifact']})", color="tab:orange", lw=0.8)
    top.plot(t, series["estimate"].smoothed, label="estimate, smoothed", color="tab:blue", lw=1.2)
    top.set_ylabel("coal share of belt region")
    top.legend(loc="lower right", fontsize=8)
    bottom.plot(t, series["estimate"].speed, label="recommended (estimate)", color="tab:blue")
    bottom.plot(t, series["oracle"].speed, label="recommended (true load)", color="black", ls="--", lw=1)
    bottom.axhline(result["energy"]["max_mps"], color="grey", lw=0.8, ls=":")
    bottom.set_ylabel("speed (m/s)")
    bottom.set_xlabel("video time (s)")
    bottom.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def report(results: list[dict]) -> str:
    header = (
        "| artifact | load MAE | load p95 abs err | bias | smoothed MAE | overloads (matched/truth, false) "
        "| energy saving (true load) |"
    )
    lines = [header, "|---|---|---|---|---|---|---|"]
    for r in results:
        o, e = r["overloads"], r["energy"]
        lines.append(
            f"| {r['artifact']} | {r['raw']['mae']:.3f} | {r['raw']['p95_abs']:.3f} | {r['raw']['bias']:+.3f} "
            f"| {r['smoothed']['mae']:.3f} | {o['matched']}/{o['truth']}, {o['false']} "
            f"| {100 * e['saving']:.1f} % ({100 * e['saving_with_true_load']:.1f} %) |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.belt_load", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--bundle", type=Path, required=True, help="a segment bundle")
    parser.add_argument("--video-dir", type=Path, default=Path("runs/demo/data/video"))
    parser.add_argument("--site", type=Path, default=DEFAULT_SITE, help="site YAML with a belt_load section")
    parser.add_argument("--artifacts", nargs="*", help="format-precision keys; default: every shipped one")
    parser.add_argument(
        "--exponent", type=positive_float, default=1.0, help="energy proxy: power grows as speed**k"
    )
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        config = load_site_config(args.site, [f"model.bundle={args.bundle}"])
        keys = args.artifacts or [
            a.key for a in verify_site(config).manifest.artifacts if a.status != "failed"
        ]
        results = [belt_figures(config, args.video_dir, artifact=key, exponent=args.exponent) for key in keys]
    except AditError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    plot(results[0], args.out / "belt_load.png")
    table = report(results)
    (args.out / "report.md").write_text(table + "\n")
    clean = [{k: v for k, v in r.items() if k != "series"} for r in results]
    (args.out / "results.json").write_text(
        json.dumps({"site": str(args.site), "results": clean}, indent=2) + "\n"
    )
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
