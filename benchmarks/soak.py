"""``python -m benchmarks.soak --bundle B --video V --minutes 10 --out runs/soak``: the daemon under load.

Runs the real daemon (a child process, as on a site) with N cameras looping a video at its native
rate, samples its resident memory and its own ``/status`` every few seconds, then stops it with
SIGTERM and counts the events it reported against those the JSONL sink holds. The answers a site
needs from a long run: does memory grow (RSS slope after warm-up), how stale is the frame the model
sees (frame age p99), does it keep up (fps per camera), does the outbox back up, is any event lost.
Figures, not pass/fail: they depend on the host.
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import yaml

from edge_runtime.bundle import load_bundle
from edge_runtime.cli_types import positive_float, positive_int
from edge_runtime.events import read_events

WARM_UP_S = 60.0  # model load, first allocations and OpenCV's decoder pools are not growth


def site_for_soak(bundle: Path, video: Path, cameras: int, out: Path, port: int) -> dict:
    """Every class of the bundle is a rule on every camera, so events keep flowing all run long."""
    classes = load_bundle(bundle).manifest.classes
    return {
        "model": {"bundle": str(bundle)},
        "cameras": [
            {"name": f"cam{i + 1}", "source": str(video), "loop": True, "realtime": True}
            for i in range(cameras)
        ],
        "rules": [
            {"name": f"rule-{label}", "labels": [label], "min_score": 0.5, "cooldown_s": 2.0}
            for label in classes
        ],
        "sinks": {"jsonl": {"path": str(out / "events.jsonl")}},
        "outbox": {"path": str(out / "outbox.sqlite")},
        "http": {"port": port},
    }


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no VmRSS for pid {pid}")


def _status(port: int) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5) as response:
            return json.loads(response.read())
    except OSError:
        return None  # not listening yet


def run_soak(bundle: Path, video: Path, cameras: int, minutes: float, out: Path, sample_s: float) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("events.jsonl", "outbox.sqlite", "outbox.sqlite-wal", "outbox.sqlite-shm"):
        (out / stale).unlink(missing_ok=True)
    port = _free_port()
    site = out / "site.yaml"
    site.write_text(yaml.safe_dump(site_for_soak(bundle, video, cameras, out, port), sort_keys=False))
    process = subprocess.Popen(
        [sys.executable, "-m", "edge_runtime", "run", "--config", str(site)],
        stdout=subprocess.PIPE,
        stderr=(out / "daemon.log").open("w"),
        text=True,
    )
    samples: list[dict] = []
    started = time.monotonic()
    try:
        while time.monotonic() - started < minutes * 60:
            time.sleep(sample_s)
            if process.poll() is not None:
                raise RuntimeError(f"daemon exited early ({process.returncode}); see {out / 'daemon.log'}")
            status = _status(port)
            if status is None:
                continue
            samples.append(
                {
                    "t_s": round(time.monotonic() - started, 1),
                    "rss_mb": round(_rss_mb(process.pid), 1),
                    "outbox_depth": status["outbox"]["depth"],
                    "processed": {name: cam["processed"] for name, cam in status["cameras"].items()},
                    "frame_age_p99_ms": status["timing_ms"].get("frame_age", {}).get("p99_ms"),
                }
            )
        process.send_signal(signal.SIGTERM)
        stdout, _ = process.communicate(timeout=120)
    finally:
        process.kill()
    summary = json.loads(stdout[stdout.index("{") :])
    delivered = {event.id for event in read_events(out / "events.jsonl")}
    result = _figures(samples, summary, len(delivered), cameras, minutes)
    (out / "soak.json").write_text(json.dumps({"figures": result, "samples": samples}, indent=2))
    return result


def _figures(samples: list[dict], summary: dict, delivered: int, cameras: int, minutes: float) -> dict:
    steady = [s for s in samples if s["t_s"] >= WARM_UP_S] or samples
    t = np.array([s["t_s"] for s in steady]) / 60.0
    rss = np.array([s["rss_mb"] for s in steady])
    slope = float(np.polyfit(t, rss, 1)[0]) if len(steady) > 2 else float("nan")
    span_s = steady[-1]["t_s"] - steady[0]["t_s"] if len(steady) > 1 else 0.0
    fps = {
        name: round((steady[-1]["processed"][name] - steady[0]["processed"][name]) / span_s, 2)
        if span_s
        else 0.0
        for name in steady[-1]["processed"]
    }
    ages = [s["frame_age_p99_ms"] for s in steady if s["frame_age_p99_ms"] is not None]
    return {
        "cameras": cameras,
        "minutes": minutes,
        "rss_start_mb": float(rss[0]),
        "rss_end_mb": float(rss[-1]),
        "rss_slope_mb_per_min": round(slope, 3),
        "fps_per_camera": fps,
        "frame_age_p99_ms_max_window": max(ages) if ages else None,
        "frame_age_p99_ms_run": summary["timing_ms"].get("frame_age", {}).get("p99_ms"),
        "outbox_depth_max": max(s["outbox_depth"] for s in samples),
        "frames": summary["frames"],
        "dropped": summary["dropped"],
        "events_reported": summary["events"],
        "events_delivered": delivered,
        "events_lost": summary["events"] - delivered,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", type=Path, default=Path("runs/demo/bundle"))
    parser.add_argument("--video", type=Path, default=Path("runs/demo/data/video/belt.avi"))
    parser.add_argument("--cameras", type=positive_int, default=4)
    parser.add_argument("--minutes", type=positive_float, default=10.0)
    parser.add_argument("--sample-s", type=positive_float, default=5.0)
    parser.add_argument("--out", type=Path, default=Path("runs/soak"))
    args = parser.parse_args(argv)
    figures = run_soak(args.bundle, args.video, args.cameras, args.minutes, args.out, args.sample_s)
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
