"""Camera capacity: how many real H.264 cameras one box watches at a target inference rate.

For each camera count the daemon runs as its own process (``capacity_probe``) against N RTSP
cameras on 127.0.0.1 (``streams``), each inferring ``target_fps`` frames a second (``infer_fps``),
every frame decoded; after a warm-up it is measured over a window: inferences per second per
camera, frame age (capture by the stream's clock, to inference) p50/p99, dropped inference slots,
the daemon's CPU and memory, capture-to-event latency and its own over-capacity verdict. The RTSP
server's CPU is sampled over the same window and reported apart: it shares the cores.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import yaml

from benchmarks.preprocess_cost import preprocessing_costs
from benchmarks.streams import ProcessCpu, RtspCameras, decode_cost, encode_stream, staggered_streams
from edge_runtime.bundle import Bundle, Manifest
from edge_runtime.config import SiteConfig
from edge_runtime.config.rules import RuleConfig
from edge_runtime.errors import SourceError

log = logging.getLogger(__name__)

DEFAULT_CAMERAS = (1, 4, 8, 16, 32, 48)
MAIN_SIZE = (640, 360)
SUB_SIZE = (320, 180)
PROBE_SLACK_S = 180.0  # start-up (48 connections) and shutdown beyond warm-up and window


@dataclass(frozen=True)
class CapacitySettings:
    """One sweep: the bundle, how the daemon runs it, and how long each point is measured."""

    bundle: Path
    artifact: str | None
    target_fps: float = 5.0
    mode: str = "throughput"  # ModelConfig.mode
    preprocess: str = "graph"  # ModelConfig.preprocess
    sub_stream: bool = False  # decode each camera's 320x180 sub-stream instead of its 640x360 main stream
    warmup_s: float = 8.0
    seconds: float = 30.0
    # staggered: the cameras' keyframes (and loops) out of step, as real cameras' are; aligned: every
    # camera serves the same file from the moment the daemon connects (streams.py)
    keyframes: str = "staggered"

    @property
    def stream(self) -> str:
        """The ``stream`` of a point: which stream is decoded, and whether the keyframes are in step."""
        size = "sub 320x180" if self.sub_stream else "main 640x360"
        return f"{size}, {self.keyframes} keyframes"

    @property
    def variant(self) -> str:
        return f"{self.mode}, {self.preprocess} preprocessing, {self.stream}"


def _site(
    base: SiteConfig, settings: CapacitySettings, cameras: RtspCameras, count: int, out: Path, port: int
) -> Path:
    """The site YAML of one point: the base site's rules for its first camera on every camera, N RTSP
    cameras, outputs under ``out``."""
    site = base.model_dump(mode="json", exclude={"cameras", "machines", "belt_load"})
    site["model"].update(
        bundle=str(settings.bundle),
        artifact=settings.artifact,
        mode=settings.mode,
        preprocess=settings.preprocess,
    )
    site["cameras"] = [
        {
            "name": f"cam{i}",
            "source": cameras.url(i),
            "sub_stream": cameras.url(i, sub=True) if settings.sub_stream else None,
            "infer_fps": settings.target_fps,
            "reconnect": {"min_s": 0.5, "max_s": 2.0},
        }
        for i in range(count)
    ]
    watched = {"*", base.camera().name}
    site["rules"] = [rule | {"camera": "*"} for rule in site["rules"] if rule["camera"] in watched]
    site["sinks"] = {"jsonl": {"path": str(out / "events.jsonl")}}
    site["outbox"]["path"] = str(out / "outbox.sqlite")
    site["snapshots"]["folder"] = str(out / "snapshots")
    site["http"] = {"host": "127.0.0.1", "port": port, "benchmark": None}
    site["capacity"]["window_s"] = settings.seconds  # the daemon's verdict covers the measured window
    path = out / "site.yaml"
    path.write_text(yaml.safe_dump(site, sort_keys=False), encoding="utf-8")
    return path


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_point(
    base: SiteConfig,
    settings: CapacitySettings,
    streams: tuple[list[Path], list[Path] | None],
    count: int,
    out: Path,
) -> dict[str, Any]:
    """Serve ``count`` cameras from ``streams`` (``_streams``), run the daemon's probe against them, and
    summarise the window."""
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("events.jsonl", "outbox.sqlite", "outbox.sqlite-wal", "outbox.sqlite-shm"):
        (out / stale).unlink(missing_ok=True)  # a point measures its own events only
    with RtspCameras(streams[0], count, streams[1]) as cameras:
        site = _site(base, settings, cameras, count, out, _free_port())
        load_before = os.getloadavg()[0]
        with ProcessCpu(cameras.process.pid) as server:  # type: ignore[union-attr]
            command = [sys.executable, "-m", "benchmarks.capacity_probe", "--config", str(site),
                       "--warmup", str(settings.warmup_s), "--seconds", str(settings.seconds),
                       "--out", str(out / "probe.json")]  # fmt: skip
            with (out / "probe.log").open("w") as log_file:  # the daemon's log: each lost slot, when
                done = subprocess.run(
                    command,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    check=False,
                    timeout=settings.warmup_s + settings.seconds + PROBE_SLACK_S,
                )
        if done.returncode != 0:
            tail = (out / "probe.log").read_text(errors="replace").strip()[-1500:]
            raise SourceError(f"capacity probe with {count} camera(s) failed: {tail}")
    probe = json.loads((out / "probe.json").read_text())
    return summarise(
        probe, settings, count, server.percent(probe["window"]["start"], probe["window"]["end"]), load_before
    )


def summarise(
    probe: dict[str, Any],
    settings: CapacitySettings,
    count: int,
    server_cpu: float | None,
    load_before: float,
) -> dict[str, Any]:
    """One ``capacity`` entry of results.json (see benchmarks/README.md for each key)."""
    fps = list(probe["fps_per_camera"].values())
    cameras = probe["cameras"].values()
    slots = sum(c["captured"] for c in cameras)
    dropped = sum(c["dropped"] for c in cameras)
    window = probe["window"]["seconds"]
    return {
        "cameras": count,
        "codec": "h264",
        "stream": settings.stream,
        "keyframes": settings.keyframes,
        "artifact": probe["artifact"],
        "runtime_precision": probe["runtime_precision"],
        "bundle": str(settings.bundle),
        "mode": settings.mode,
        "preprocess": settings.preprocess,
        "target_fps": settings.target_fps,
        "fps_per_camera": round(sum(fps) / count, 2),
        "fps_per_camera_min": round(min(fps), 2),
        "frame_age_p50_ms": probe["frame_age_ms"]["p50"],
        "frame_age_p99_ms": probe["frame_age_ms"]["p99"],
        "dropped": dropped,
        "dropped_share": round(dropped / slots, 4) if slots else 0.0,
        "decoded_fps_per_camera": round(sum(c["decoded"] for c in cameras) / window / count, 2),
        "cpu_percent": probe["cpu_percent"],
        "cpu_percent_per_camera": round(probe["cpu_percent"] / count, 2),
        "server_cpu_percent": server_cpu,
        "rss_mb": probe["memory_mb"]["VmRSS"],
        "peak_rss_mb": probe["memory_mb"]["VmHWM"],
        "capture_to_event_p50_ms": probe["capture_to_event_ms"]["p50"],
        "capture_to_event_p99_ms": probe["capture_to_event_ms"]["p99"],
        "events": probe["capture_to_event_ms"]["count"],
        "infer_p99_ms": probe["infer_ms"]["p99"],
        # the inference thread handing its events to the outbox; the outbox writer's group commit (fsync)
        "delivery_p99_ms": probe["stages_ms"].get("delivery", {}).get("p99"),
        "commit_p99_ms": probe["stages_ms"].get("commit", {}).get("p99"),
        "over_capacity": probe["capacity"]["over_capacity"],
        "window_s": window,
        "load_avg_1m_before": round(load_before, 2),
    }


def _streams(
    video: Path, out: Path, settings: CapacitySettings, count: int
) -> tuple[list[Path], list[Path] | None]:
    """The files the RTSP server serves ``count`` cameras from: main streams, and sub-streams if decoded."""
    folder = out / "streams"

    def files(size: tuple[int, int]) -> list[Path]:
        if settings.keyframes == "aligned":
            return [encode_stream(video, folder, *size)]
        return staggered_streams(video, folder, *size, count)

    return files(MAIN_SIZE), files(SUB_SIZE) if settings.sub_stream else None


def costs(bundle: Bundle, artifact: str | None, video: Path, out: Path) -> dict[str, Any]:
    """What each decoded frame costs around the model: decoding both streams (grab alone, and with the
    BGR conversion) and the main stream as MJPEG, and a main-stream frame's preprocessing and inference
    on the host or in the graph."""
    streams = [encode_stream(video, out / "streams", *size) for size in (MAIN_SIZE, SUB_SIZE)]
    decode = {
        f"{w}x{h}": decode_cost(path) for (w, h), path in zip((MAIN_SIZE, SUB_SIZE), streams, strict=True)
    }
    mjpeg = encode_stream(video, out / "streams", *MAIN_SIZE, codec="mjpeg")
    decode[f"{MAIN_SIZE[0]}x{MAIN_SIZE[1]} mjpeg"] = decode_cost(mjpeg)
    capture = cv2.VideoCapture(str(streams[0]))
    ok, frame = capture.read()
    capture.release()
    if not ok:
        raise SourceError(f"{streams[0]}: no frame could be decoded")
    return {"decode_ms": decode, "preprocess_ms": preprocessing_costs(bundle, artifact, frame, seconds=2.0)}


def run_capacity(
    base: SiteConfig, settings: CapacitySettings, task: str, video: Path, counts: tuple[int, ...], out: Path
) -> list[dict[str, Any]]:
    """The sweep over ``counts``."""
    points = []
    for count in counts:
        streams = _streams(video, out, settings, count)
        point = run_point(base, settings, streams, count, out / "points" / f"{_slug(settings)}-{count}")
        point["task"] = task
        log.info(
            "%d camera(s): %.2f inferences/s per camera (target %.1f), frame age p99 %s ms, %d dropped, "
            "daemon CPU "
            "%.0f %%, server CPU %s %%",
            count,
            point["fps_per_camera"],
            settings.target_fps,
            point["frame_age_p99_ms"],
            point["dropped"],
            point["cpu_percent"],
            point["server_cpu_percent"],
        )
        points.append(point)
    return points


def run_latency(
    base: SiteConfig, settings: CapacitySettings, manifest: Manifest, video: Path, out: Path
) -> dict:
    """One camera whose every inferred frame raises an event (a start, then updates): capture to event
    committed (on disk) and handed to the sinks, against the model's own p99 in the same window."""
    every_frame = RuleConfig(
        name="every-frame",
        labels=list(manifest.classes),
        min_score=0.0,
        debounce={"hits": 1, "window": 1},  # type: ignore[arg-type]
        cooldown_s=0.0,
        update_every_s=0.5 / settings.target_fps,
    )
    site = base.model_copy(update={"rules": [every_frame]})
    streams = _streams(video, out, settings, 1)
    point = run_point(site, settings, streams, 1, out / "points" / f"{_slug(settings)}-latency")
    return {
        key: point[key]
        for key in (
            "artifact",
            "events",
            "capture_to_event_p50_ms",
            "capture_to_event_p99_ms",
            "infer_p99_ms",
            "frame_age_p99_ms",
            "delivery_p99_ms",
            "commit_p99_ms",
            "window_s",
        )
    }


def _slug(settings: CapacitySettings) -> str:
    name = settings.bundle.name
    stream = "sub" if settings.sub_stream else "main"
    return f"{name}-{settings.mode}-{settings.preprocess}-{stream}-{settings.keyframes}"


def merge_points(existing: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Earlier sweeps' points, minus those this sweep measured again (same bundle, variant and count)."""

    def key(point: dict[str, Any]) -> tuple[Any, ...]:
        return (
            point["bundle"],
            point["artifact"],
            point["mode"],
            point["preprocess"],
            point["stream"],
            point["cameras"],
        )

    replaced = {key(point) for point in new}
    return [point for point in existing if key(point) not in replaced] + new


def settings_dict(settings: CapacitySettings) -> dict[str, Any]:
    return {key: str(value) if isinstance(value, Path) else value for key, value in asdict(settings).items()}
