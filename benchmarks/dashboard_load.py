"""Does watching cost inference? The daemon's inference fps with 0, 1 and 4 live viewers attached.

``python -m benchmarks.dashboard_load --config configs/site-demo.yaml [--seconds 20] [key=value ...]``

Each round runs the real daemon (``pipeline.run``) on the site's first camera, looped and unpaced so
inference is the bottleneck (the worst case for a viewer to steal from), with N MJPEG clients
reading the live view for the whole round. Rounds run 0, 1, 4, 0 viewers, so drift from other load
on the machine shows as a difference between the two 0-viewer rounds.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from edge_runtime.cli_types import positive_float
from edge_runtime.config import SiteConfig, load_site_config
from edge_runtime.errors import AditError
from edge_runtime.logs import setup_logging
from edge_runtime.pipeline import run

ROUNDS = (0, 1, 4, 0)


class Viewer(threading.Thread):
    """One MJPEG client that counts the frames it receives."""

    def __init__(self, url: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.url, self.stop, self.frames = url, stop, 0

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                with urllib.request.urlopen(self.url, timeout=5) as stream:
                    while not self.stop.is_set():
                        self.frames += stream.read1(1 << 16).count(b"--frame")
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)  # not up yet, or the round ended


def one_round(config: SiteConfig, viewers: int, seconds: float) -> dict[str, Any]:
    stop = threading.Event()
    summary: list[Any] = []

    def daemon_main() -> None:
        try:
            summary.append(run(config, stop))
        except BaseException as exc:  # noqa: BLE001 (re-raised on the main thread below)
            summary.append(exc)

    daemon = threading.Thread(target=daemon_main, daemon=True)
    daemon.start()
    url = f"http://127.0.0.1:{config.http.port}/api/cameras/{config.cameras[0].name}/stream.mjpg"
    watching = threading.Event()
    clients = [Viewer(url, watching) for _ in range(viewers)]
    for client in clients:
        client.start()
    time.sleep(seconds)
    stop.set()
    watching.set()
    daemon.join(60)
    if not summary:
        raise RuntimeError("the daemon did not stop within 60 s")
    result = summary[0]
    if isinstance(result, BaseException):
        raise result
    return {
        "viewers": viewers,
        "inference_fps": result.fps,
        "infer_p50_ms": round(result.timing_ms["infer"].p50_ms, 2),
        "frames": result.frames,
        "viewer_fps": round(sum(c.frames for c in clients) / max(len(clients), 1) / result.duration_s, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.dashboard_load", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--config", type=Path, help="site YAML (demo defaults when omitted)")
    parser.add_argument("--seconds", type=positive_float, default=20.0, help="length of each round")
    parser.add_argument("--out", type=Path, help="write the rounds as JSON here")
    parser.add_argument("overrides", nargs="*", help="key=value overrides, e.g. model.artifact=openvino-int8")
    args = parser.parse_args(argv)
    setup_logging()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    try:
        config = load_site_config(
            args.config,
            [
                *args.overrides,
                "cameras.0.loop=true",
                "cameras.0.realtime=false",
                "http.host=127.0.0.1",
                f"http.port={port}",
            ],
        )
        rounds = [one_round(config, viewers, args.seconds) for viewers in ROUNDS]
    except AditError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{'viewers':>7}  {'inference fps':>13}  {'infer p50 ms':>12}  {'frames/viewer/s':>15}")
    for row in rounds:
        print(
            f"{row['viewers']:>7}  {row['inference_fps']:>13.2f}  {row['infer_p50_ms']:>12.2f}  {row['viewer_fps']:>15.2f}"
        )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps({"config": str(args.config), "seconds": args.seconds, "rounds": rounds}, indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
