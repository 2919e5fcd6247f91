"""The pipeline benchmark: the daemon's own pipeline on a video, alone and with 1..N cameras.

End-to-end throughput comes from ``replay`` (every frame, as fast as the box goes) and is set
against model-only throughput of the same artifact measured in the same run. The camera sweep
plays the video live (paced at its frame rate, newest frame wins) through ``CaptureThread`` and
``Pipeline``, as ``run`` does, and records what a site sees: fps per camera, how old a frame is
when the model gets it, how many frames were dropped, and capture-to-event latency.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from benchmarks.preprocess_cost import cpu_and_wall_ms
from benchmarks.streams import decode_cost
from benchmarks.thread_cpu import ThreadCpu
from edge_runtime.bundle import load_bundle
from edge_runtime.capture import CaptureThread
from edge_runtime.config import SiteConfig
from edge_runtime.errors import SourceError
from edge_runtime.inference import Pipeline
from edge_runtime.measure.timing import LatencyStats, p50_p99, time_calls
from edge_runtime.model import BundleModel
from edge_runtime.replay import replay
from edge_runtime.rules import RuleSet
from edge_runtime.siteloop.loop import SiteLoop
from edge_runtime.sources import Frame, open_source
from edge_runtime.startup import load_model
from edge_runtime.timing import StageTimers

log = logging.getLogger(__name__)

DEFAULT_CAMERAS = (1, 2, 4, 8)
JOIN_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class CameraPoint:
    count: int
    fps_per_camera: float
    frame_age_p50_ms: float
    frame_age_p99_ms: float
    dropped: int
    captured: int


@dataclass
class _LiveRun:
    point: CameraPoint
    event_latency_ms: list[float]
    decision_latency_ms: list[float]


def site_for(config: SiteConfig, bundle: Path, artifact: str | None) -> SiteConfig:
    """The site configuration with the benchmarked bundle and artifact in place of its own."""
    return config.model_copy(
        update={"model": config.model.model_copy(update={"bundle": bundle, "artifact": artifact})}
    )


def _load(config: SiteConfig) -> BundleModel:
    return load_model(load_bundle(config.model.bundle), config.model)


def _first_frame(config: SiteConfig, video: Path) -> np.ndarray:
    source = open_source(config.camera().model_copy(update={"source": str(video), "loop": False}))
    try:
        frame = source.read()
    finally:
        source.close()
    if frame is None:
        raise SourceError(f"{video}: no frame could be decoded")
    return frame.image


def cpu_bound(model: BundleModel, image: np.ndarray, video: Path, seconds: float) -> dict:
    """CPU time per frame of decode, preprocess and inference, each alone, and the frame rate they
    allow on this machine's cores: the most any pipeline of these stages can do here."""
    batch = model.prepare([image])
    cost = {
        "decode": decode_cost(video)["grab_retrieve_ms"],  # one decoder thread, as a camera decodes
        "preprocess": cpu_and_wall_ms(lambda: model.prepare([image]), seconds)["cpu_ms"],
        "infer": cpu_and_wall_ms(lambda: model.infer(batch), seconds)["cpu_ms"],
    }
    cores = len(os.sched_getaffinity(0))
    return {
        "cpu_ms_per_frame": {k: round(v, 3) for k, v in cost.items()},
        "cores": cores,
        "cpu_bound_fps": round(cores * 1000.0 / sum(cost.values()), 1),
    }


def replay_cpu(spent: dict[str, float], frames: int, seconds: float) -> dict:
    """The replay's CPU per frame by thread (``ThreadCpu`` roles; the caller is the inference loop) and
    how busy it kept the cores: set against ``cpu_ms_per_frame``, where end to end loses to the bound."""
    roles = {"caller": "inference_loop"}
    per_frame = {roles.get(role, role): round(1000.0 * s / frames, 3) for role, s in sorted(spent.items())}
    return {
        "ms_per_frame": per_frame,
        "total_ms_per_frame": round(sum(per_frame.values()), 3),
        "cores_busy": round(sum(spent.values()) / seconds, 2) if seconds > 0 else None,
    }


def model_only_fps(model: BundleModel, image: np.ndarray, seconds: float) -> float:
    """The artifact alone on a real frame of the video, batch 1, as the pipeline runs it: one synchronous
    request after another in latency mode; in throughput mode every infer request kept busy."""
    batch = model.prepare([image])
    if not model.throughput:
        stats = LatencyStats.from_samples(time_calls(lambda: model.infer(batch), min_seconds=seconds))
        return 1000.0 / stats.mean_ms
    for _ in range(10):
        model.infer(batch)
    errors: list[Exception] = []
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        model.start(batch, lambda _outputs: None, errors.append)  # blocks while every request is busy
        count += 1
    model.wait()
    if errors:  # a benchmark of a model that fails measures nothing
        raise errors[0]
    return count / (time.perf_counter() - started)


def live_run(
    model: BundleModel,
    config: SiteConfig,
    video: Path,
    count: int,
    seconds: float,
    site_loop: SiteLoop | None = None,
    timers: StageTimers | None = None,
) -> _LiveRun:
    """``count`` cameras playing ``video`` at its frame rate into one shared inference stage, as ``run`` does
    (``site_loop``: with hard-example capture, drift and shadow as the daemon runs them, on ``timers``)."""
    first = config.camera()
    cameras = [
        first.model_copy(
            update={
                "name": first.name if i == 0 else f"{first.name}-{i}",
                "source": str(video),
                "loop": True,
                "realtime": True,
            }
        )
        for i in range(count)
    ]
    stop, ready, timers = threading.Event(), threading.Event(), timers or StageTimers()
    pipeline = Pipeline(model, RuleSet(config.rules), [], timers, site_loop=site_loop)
    arrivals = _Arrivals()
    ages: list[float] = []
    event_latency: list[float] = []
    decision_latency: list[float] = []
    with ExitStack() as cleanup:
        captures = []
        for camera in cameras:
            source = open_source(camera)
            cleanup.callback(source.close)
            capture = CaptureThread(source, stop, timers, realtime=True, ready=ready)
            cleanup.callback(capture.join, JOIN_TIMEOUT_S)
            captures.append(capture)
        cleanup.callback(stop.set)  # runs first: threads end, are joined, then sources close
        for capture in captures:
            capture.start()
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            ready.wait(0.5)
            ready.clear()
            frames = [frame for capture in captures if (frame := capture.take()) is not None]
            if not frames:
                continue
            taken = time.time()
            arrived = {frame.camera: arrivals.arrival(frame) for frame in frames}
            ages += [(taken - arrived[frame.camera]) * 1000.0 for frame in frames]
            events = pipeline.process(frames)
            done = time.time()
            decision_latency += [(done - arrived[frame.camera]) * 1000.0 for frame in frames]
            event_latency += [(done - arrived[event.camera]) * 1000.0 for event in events]
        duration = time.monotonic() - started
    age = LatencyStats.maybe(ages)
    point = CameraPoint(
        count=count,
        fps_per_camera=round(pipeline.frames / duration / count, 2),
        frame_age_p50_ms=round(age.p50_ms, 2) if age else 0.0,
        frame_age_p99_ms=round(age.p99_ms, 2) if age else 0.0,
        dropped=sum(capture.stats.dropped for capture in captures),
        captured=sum(capture.stats.captured for capture in captures),
    )
    log.info(
        "%d camera(s): %.1f fps per camera, frame age p99 %.1f ms, %d dropped",
        count,
        point.fps_per_camera,
        point.frame_age_p99_ms,
        point.dropped,
    )
    return _LiveRun(point, event_latency, decision_latency)


class _Arrivals:
    """When each frame would have arrived from a live camera.

    A file played in real time is decoded ahead and held until its time is due, and ``Frame.ts``
    is the decode time; counting from there would add up to one frame period of waiting that a live
    camera never has. A frame is due at the first frame's decode time plus its offset in the video.
    """

    def __init__(self) -> None:
        self._origin: dict[str, float] = {}  # camera -> decode time minus video position of its first frame

    def arrival(self, frame: Frame) -> float:
        origin = self._origin.setdefault(frame.camera, frame.ts - frame.pts_s)
        return max(frame.ts, origin + frame.pts_s)


def run_pipeline_benchmark(
    config: SiteConfig, video: Path, *, cameras: tuple[int, ...] = DEFAULT_CAMERAS, seconds: float = 4.0
) -> dict:
    """The ``pipeline`` object of results.json (see benchmarks/README.md for each key)."""
    with ThreadCpu({"read-ahead": "reading"}) as threads:
        replayed = replay(config, video).summary
        ended = time.monotonic()
    spent = threads.seconds(ended - replayed.duration_s, ended)
    model = _load(config)
    image = _first_frame(config, video)
    model_fps = model_only_fps(model, image, min(seconds, 2.0))
    bound = cpu_bound(model, image, video, min(seconds, 2.0))
    runs = [live_run(model, config, video, count, seconds) for count in cameras]
    single = next((run for run in runs if run.point.count == 1), runs[0])
    events = single.event_latency_ms
    return {
        "artifact": replayed.artifact,
        "runtime_precision": replayed.runtime_precision,
        "video": str(video),
        "frames": replayed.frames,
        "e2e_fps": replayed.fps,
        "model_only_fps": round(model_fps, 2),
        "e2e_vs_model_only": round(replayed.fps / model_fps, 3) if model_fps else None,
        **bound,
        "cpu_bound_fraction": round(replayed.fps / bound["cpu_bound_fps"], 3),
        "replay_cpu": replay_cpu(spent, replayed.frames, replayed.duration_s),
        "stages_ms": {
            stage: {"p50": s.p50_ms, "p99": s.p99_ms, "mean": s.mean_ms}
            for stage, s in replayed.timing_ms.items()
        },
        "capture_to_event_ms": {**p50_p99(events), "events": len(events), "camera_count": single.point.count},
        "capture_to_decision_ms": p50_p99(single.decision_latency_ms),
        "cameras": [asdict(run.point) for run in runs],
    }
