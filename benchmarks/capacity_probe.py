"""One point of the camera-capacity benchmark: the daemon in this process, measured over a window.

``python -m benchmarks.capacity_probe --config SITE --warmup S --seconds S --out point.json``

Runs ``edge_runtime.pipeline.run`` (the daemon, its HTTP endpoint included) on the site's cameras,
waits until every camera has had a frame inferred plus ``--warmup`` seconds, then measures
``--seconds``: per camera the frames inferred, slots dropped and frames decoded (from the daemon's
own /status), frame age and capture-to-event latency of that window (the daemon's stage timers),
the process's CPU time and memory, and the daemon's capacity verdict. The capacity benchmark
starts it as its own process; it imports nothing but edge_runtime (no torch), so the CPU time and
memory it reports are the daemon's.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import threading
import time
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Any

from edge_runtime.cli_types import non_negative_float, positive_float
from edge_runtime.config import load_site_config
from edge_runtime.logs import setup_logging
from edge_runtime.measure.timing import p50_p99
from edge_runtime.pipeline import run
from edge_runtime.timing import Stage, StageTimers

READY_TIMEOUT_S = 120.0  # 48 RTSP cameras connect in parallel on 2 busy cores


class WindowTimers(StageTimers):
    """The daemon's stage timers, also keeping every sample recorded while ``recording`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.recording = False
        self.window: dict[str, list[float]] = defaultdict(list)

    def record(self, stage: Stage, milliseconds: float) -> None:
        super().record(stage, milliseconds)
        if self.recording:
            self.window[stage].append(milliseconds)  # list.append is atomic: capture and runtime threads


def _status(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=10) as response:
        return json.load(response)


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _memory_mb() -> dict[str, float]:
    fields = dict(
        line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line
    )
    return {key: round(int(fields[key].split()[0]) / 1024, 1) for key in ("VmRSS", "VmHWM")}


def _percentiles(values: list[float]) -> dict[str, float | None]:
    return {**p50_p99(values), "count": len(values)}


def _wait_until_all_infer(port: int, cameras: list[str], failed: threading.Event) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline and not failed.is_set():
        try:
            status = _status(port)["cameras"]
            if all(status[name]["processed"] > 0 for name in cameras):
                return
        except OSError:
            pass  # the HTTP endpoint is not up yet
        time.sleep(0.5)
    raise RuntimeError(f"not every camera had a frame inferred within {READY_TIMEOUT_S:.0f} s")


def measure(config_path: Path, warmup_s: float, seconds: float) -> dict[str, Any]:
    config = load_site_config(config_path)
    timers, stop, failed = WindowTimers(), threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def daemon() -> None:
        try:
            run(config, stop, timers=timers)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
            failed.set()

    thread = threading.Thread(target=daemon, name="daemon")
    thread.start()
    try:
        names = [camera.name for camera in config.cameras]
        _wait_until_all_infer(config.http.port, names, failed)
        time.sleep(warmup_s)
        asked = time.time()
        before, cpu_before, started = _status(config.http.port), _cpu_s(), time.time()
        timers.recording = True
        time.sleep(seconds)
        timers.recording = False
        after, cpu_after, ended = _status(config.http.port), _cpu_s(), time.time()
        status_ms = round((started - asked) * 1000.0, 1)  # the daemon answering /status, inside the window
        memory = _memory_mb()
    finally:
        stop.set()
        thread.join(120)
    if errors:
        raise errors[0]
    window = ended - started
    cameras = {
        name: {
            key: after["cameras"][name][key] - before["cameras"][name][key]
            for key in ("decoded", "captured", "processed", "dropped")
        }
        for name in names
    }
    return {
        "window": {"start": started, "end": ended, "seconds": round(window, 2), "status_ms": status_ms},
        "cameras": cameras,
        "fps_per_camera": {name: round(c["processed"] / window, 2) for name, c in cameras.items()},
        "cpu_percent": round(100.0 * (cpu_after - cpu_before) / window, 1),
        "memory_mb": memory,
        "frame_age_ms": _percentiles(timers.window["frame_age"]),
        "capture_to_event_ms": _percentiles(timers.window["capture_to_event"]),
        "infer_ms": _percentiles(timers.window["infer"]),
        # every stage of the window (decode: the capture threads' CPU time per frame handed to the model)
        "stages_ms": {stage: _percentiles(samples) for stage, samples in timers.window.items()},
        "capacity": after["capacity"],
        "artifact": after["artifact"],
        "runtime_precision": after["runtime_precision"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.capacity_probe", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--config", type=Path, required=True, help="site YAML with the cameras and http.port set"
    )
    parser.add_argument("--warmup", type=non_negative_float, default=8.0)
    parser.add_argument("--seconds", type=positive_float, default=30.0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    setup_logging()
    logging.getLogger("edge_runtime.capture").setLevel(logging.DEBUG)  # each lost slot, when (probe.log)
    point = measure(args.config, args.warmup, args.seconds)
    args.out.write_text(json.dumps(point, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
