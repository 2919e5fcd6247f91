"""What the site loop costs: capacity with and without hard-example capture, drift and a shadow candidate.

``python -m benchmarks.site_loop --bundle B --video V --site S --reference-images DIR --out DIR``

Each variant runs in the same process, one after the other, on the same video:

- ``off``: the daemon as before (no ``site_loop`` section);
- ``capture+drift``: hard-example capture at its default thresholds and rate limit, and drift against a
  reference written into a copy of the bundle (measured on ``--reference-images``);
- ``capture+drift+shadow``: the same, plus a candidate in shadow (``--candidate``, default the bundle
  itself) at ``cpu_budget`` 0.2.

For each: replay of the video as fast as the box goes (fps: what one inference stage can serve), and
``--cameras`` looping cameras at the video's frame rate through the live pipeline (fps per camera,
dropped frames, frame-age p99, process CPU seconds per processed frame). The variants run in turn,
``--rounds`` times (round robin, so a busy moment of a shared box does not land on one variant only);
the table shows each figure's median over the rounds. Results go to ``OUT/site_loop.json`` and
``OUT/site_loop.md``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks.pipeline import _load, live_run, site_for
from edge_runtime.bundle import load_bundle
from edge_runtime.cli_types import positive_float, positive_int
from edge_runtime.config import SiteConfig, load_site_config
from edge_runtime.replay import replay
from edge_runtime.siteloop.config import ShadowConfig
from edge_runtime.siteloop.loop import SiteLoop
from edge_runtime.siteloop.reference import copy_with_reference, image_files
from edge_runtime.timing import StageTimers


def variants(config: SiteConfig, scratch: Path, candidate: Path) -> dict[str, SiteConfig]:
    capture = {"enabled": True, "folder": scratch / "captures"}
    with_loop = config.site_loop.model_copy(
        update={"capture": config.site_loop.capture.model_copy(update=capture)}
    )
    shadow = {"bundle": candidate, "cpu_budget": 0.2, "threads": config.model.threads or 1}
    return {
        "off": config.model_copy(
            update={
                "site_loop": config.site_loop.model_copy(
                    update={"drift": config.site_loop.drift.model_copy(update={"enabled": False})}
                )
            }
        ),
        "capture+drift": config.model_copy(update={"site_loop": with_loop}),
        "capture+drift+shadow": config.model_copy(
            update={"site_loop": with_loop.model_copy(update={"shadow": with_loop.shadow or _shadow(shadow)})}
        ),
    }


def _shadow(settings: dict[str, Any]):  # noqa: ANN202 - a ShadowConfig

    return ShadowConfig(**settings)


def measure(config: SiteConfig, video: Path, cameras: int, seconds: float) -> dict[str, Any]:
    replayed = replay(config, video).summary
    model = _load(config)
    timers = StageTimers()
    bundle = load_bundle(config.model.bundle, verify="none")
    loop = SiteLoop.build(config, bundle, model.artifact.key, timers)
    cpu, wall = time.process_time(), time.monotonic()
    try:
        run = live_run(model, config, video, cameras, seconds, site_loop=loop, timers=timers)
    finally:
        state = loop.state() if loop is not None else None
        if loop is not None:
            loop.close()
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    frames = round(run.point.fps_per_camera * cameras * seconds)  # what the pipeline processed
    stage = timers.stats("site_loop")
    return {
        "replay_fps": replayed.fps,
        "replay_frames": replayed.frames,
        "live": asdict(run.point),
        "cpu_s": round(cpu, 2),
        "wall_s": round(wall, 2),
        "cpu_ms_per_frame": round(1000 * cpu / frames, 3) if frames else None,
        "site_loop_ms": {"p50": stage.p50_ms, "p99": stage.p99_ms, "mean": stage.mean_ms} if stage else None,
        "shadow": None
        if state is None or state["shadow"] is None
        else {k: state["shadow"][k] for k in ("offered", "compared", "over_budget", "cost", "agreement")},
        "captured": None if state is None or state["captures"] is None else state["captures"]["captured"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.site_loop", description=__doc__)
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--artifact")
    parser.add_argument("--video", type=Path, required=True)
    parser.add_argument("--site", type=Path, required=True)
    parser.add_argument(
        "--reference-images", type=Path, required=True, help="held-out images for the reference"
    )
    parser.add_argument("--candidate", type=Path, help="the shadow candidate (default: the bundle itself)")
    parser.add_argument("--cameras", type=positive_int, default=8)
    parser.add_argument("--seconds", type=positive_float, default=20.0)
    parser.add_argument("--rounds", type=positive_int, default=3)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="site-loop-"))
    try:
        images = image_files(args.reference_images)
        bundle, _ = copy_with_reference(args.bundle, scratch, images[:: max(1, len(images) // 200)])
        config = site_for(load_site_config(args.site), bundle, args.artifact)
        runs: dict[str, list[dict[str, Any]]] = {}
        for _ in range(args.rounds):
            for name, variant in variants(config, scratch, args.candidate or bundle).items():
                runs.setdefault(name, []).append(measure(variant, args.video, args.cameras, args.seconds))
        results = {name: {"median": median(items), "rounds": items} for name, items in runs.items()}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "site_loop.json").write_text(json.dumps(results, indent=2))
    (args.out / "site_loop.md").write_text(table(results, args.cameras))
    print(table(results, args.cameras))
    return 0


def median(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of each figure the table shows, over the rounds."""

    def mid(values: list[float]) -> float:
        return float(statistics.median(values))

    stages = [r["site_loop_ms"] for r in rounds if r["site_loop_ms"]]
    shadows = [r["shadow"] for r in rounds if r["shadow"]]
    return {
        "replay_fps": mid([r["replay_fps"] for r in rounds]),
        "live": {key: mid([r["live"][key] for r in rounds]) for key in rounds[0]["live"]},
        "cpu_ms_per_frame": mid([r["cpu_ms_per_frame"] for r in rounds]),
        "site_loop_ms": {k: mid([s[k] for s in stages]) for k in ("p50", "p99")} if stages else None,
        "shadow_cost": mid([s["cost"] for s in shadows if s["cost"] is not None]) if shadows else None,
    }


def table(results: dict[str, dict[str, Any]], cameras: int) -> str:
    results = {name: r["median"] for name, r in results.items()}
    base = results["off"]
    rows = [
        "| variant | replay fps | vs off | fps/camera ("
        + str(cameras)
        + " cameras) | dropped | frame age p99 ms "
        "| CPU ms/frame | vs off | site_loop p50 / p99 ms | shadow time / live time |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for name, r in results.items():
        live = r["live"]
        stage = r["site_loop_ms"]
        loop_ms = f"{stage['p50']:.3f} / {stage['p99']:.3f}" if stage else "–"
        shadow = "–" if r["shadow_cost"] is None else f"{100 * r['shadow_cost']:.1f} %"
        rows.append(
            f"| {name} | {r['replay_fps']:.1f} | {100 * (r['replay_fps'] / base['replay_fps'] - 1):+.1f} % "
            f"| {live['fps_per_camera']:.2f} | {live['dropped']:.0f} | {live['frame_age_p99_ms']:.1f} "
            f"| {r['cpu_ms_per_frame']} "
            f"| {100 * (r['cpu_ms_per_frame'] / base['cpu_ms_per_frame'] - 1):+.1f} % "
            f"| {loop_ms} | {shadow} |"
        )
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
