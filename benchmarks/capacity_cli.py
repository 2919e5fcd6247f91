"""``python -m benchmarks capacity``: the camera-capacity sweep added to DIR/results.json and its report."""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.capacity import (
    DEFAULT_CAMERAS,
    CapacitySettings,
    costs,
    merge_points,
    run_capacity,
    run_latency,
)
from benchmarks.goals import evaluate_goals
from benchmarks.i18n import HEADINGS
from benchmarks.report import build_results, render_markdown, write_report
from edge_runtime.bundle import load_bundle
from edge_runtime.cli_types import non_negative_float, positive_counts, positive_float
from edge_runtime.config import load_site_config
from edge_runtime.measure.host import host_info
from edge_runtime.measure.select import load_results


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks capacity",
        description="How many H.264 RTSP cameras the daemon serves at a target inference rate; "
        "adds `capacity` to DIR/results.json and renders its report.",
    )
    add = parser.add_argument
    add("--bundle", type=Path, required=True, help="the bundle the daemon runs")
    add("--artifact", help="artifact key (default: the bundle's first shipped)")
    add("--video", type=Path, required=True, help="video the camera streams are encoded from (once)")
    add("--site", type=Path, help="site YAML whose rules and settings the daemon runs (demo defaults)")
    add("--out", type=Path, required=True, help="folder of results.json, the report and the streams")
    add("--cameras", type=positive_counts, default=list(DEFAULT_CAMERAS), help="camera counts, e.g. 1,4,8")
    add("--fps", type=positive_float, default=5.0, help="inferences per second per camera (infer_fps)")
    add("--seconds", type=positive_float, default=30.0, help="measured window per camera count")
    add("--warmup", type=non_negative_float, default=8.0, help="seconds after every camera's first inference")
    add("--mode", choices=["throughput", "latency"], default="throughput", help="model.mode")
    add("--preprocess", choices=["graph", "host"], default="graph", help="model.preprocess")
    add("--sub-stream", action="store_true", help="decode each camera's 320x180 sub-stream")
    add(
        "--keyframes",
        choices=["staggered", "aligned"],
        default="staggered",
        help="staggered: the cameras' keyframes and loops out of step, as real cameras' are; aligned: every "
        "camera the same file from the same moment (every keyframe of every camera at once)",
    )
    add("--latency", action="store_true", help="also one camera with a rule firing on every inferred frame")
    add("--lang", choices=sorted(HEADINGS), default="en")
    return parser


def capacity(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    bundle = load_bundle(args.bundle)
    settings = CapacitySettings(
        bundle=args.bundle,
        artifact=args.artifact,
        target_fps=args.fps,
        mode=args.mode,
        preprocess=args.preprocess,
        sub_stream=args.sub_stream,
        keyframes=args.keyframes,
        warmup_s=args.warmup,
        seconds=args.seconds,
    )
    site = load_site_config(args.site)
    path = args.out / "results.json"
    if path.is_file():
        results = load_results(path)
    else:
        results = build_results(host_info(), [], bundle.manifest.name, False)
    results["capacity_costs"] = costs(bundle, args.artifact, args.video, args.out)
    points = run_capacity(site, settings, bundle.manifest.task, args.video, tuple(args.cameras), args.out)
    results["capacity"] = merge_points(results.get("capacity", []), points)
    if args.latency:
        decode = results["capacity_costs"]["decode_ms"]["640x360"]["grab_retrieve_ms"]
        latency = run_latency(site, settings, bundle.manifest, args.video, args.out)
        results["capacity_latency"] = latency | {"decode_ms": decode}
    results["goals"] = evaluate_goals(results)
    write_report(results, args.out, args.lang)
    print(render_markdown(results, args.lang))
    return 0
