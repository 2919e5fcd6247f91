"""The daemon's pipeline: sources -> model -> rules -> sinks, live (``run``) or deterministic (``replay``).

One shared inference stage serves every camera: each pass takes the newest frame of every camera
that has one and classifies them as one batch. Every stage is timed into ``StageTimers``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence
from contextlib import ExitStack, closing
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from edge_runtime.backends import BackendOptions
from edge_runtime.beltload import BeltLoadMonitor
from edge_runtime.bundle import Bundle, Manifest, load_bundle
from edge_runtime.config import ModelConfig, SiteConfig, check_rule_labels
from edge_runtime.errors import BundleError, ConfigError, SourceError
from edge_runtime.events import Event, Sink
from edge_runtime.health import CameraHealth
from edge_runtime.live import LatestFrames
from edge_runtime.liveness import Liveness
from edge_runtime.model import BundleModel
from edge_runtime.observe import CameraView, DaemonView
from edge_runtime.outbox import Outbox
from edge_runtime.postprocess import Prediction, Segmentation, decoder_for, list_postprocess
from edge_runtime.rules import RuleSet
from edge_runtime.sinks import build_sinks
from edge_runtime.snapshots import SnapshotWriter
from edge_runtime.sources import CaptureThread, Frame, iter_frames, open_camera, open_source
from edge_runtime.systemd import SystemdNotifier
from edge_runtime.timing import StageStats, StageTimers
from edge_runtime.web.server import WebServer

log = logging.getLogger(__name__)

IDLE_WAIT_S = 0.5  # how long the inference stage sleeps when no camera has a new frame
JOIN_TIMEOUT_S = 5.0  # longer than a stream's 2 s read timeout, so a healthy capture thread always ends


@dataclass(frozen=True)
class PipelineSummary:
    """What a run did: counts, throughput and per-stage latency (milliseconds)."""

    artifact: str
    runtime_precision: str
    frames: int
    events: int
    dropped: int
    delivery_failures: int
    duration_s: float
    fps: float
    timing_ms: dict[str, StageStats]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ReplayResult:
    events: list[Event]
    summary: PipelineSummary


def verify_site(config: SiteConfig) -> Bundle:
    """Start-up checks needing no camera: bundle digests, the artifact, rule labels among the classes."""
    bundle = load_bundle(config.model.bundle)
    if decoder_for(bundle.manifest.task) is None:
        raise BundleError(
            f"{bundle.root}: task {bundle.manifest.task!r} has no post-processing; "
            f"known: {', '.join(list_postprocess())}"
        )
    bundle.artifact(config.model.artifact)
    check_rules(config, bundle.manifest, bundle.root)
    belt_monitor(config, bundle)
    return bundle


def check_rules(config: SiteConfig, manifest: Manifest, bundle: Path | str) -> None:
    """Rules the bundle can serve: labels among its classes, zones and tripwires only on detections."""
    check_rule_labels(config, manifest.classes)
    if manifest.task != "detect":
        for index, rule in enumerate(config.rules):
            if rule.zone is not None or rule.tripwire is not None:
                raise ConfigError(
                    f"rules[{index}]: zone and tripwire need a detect bundle; {bundle} is "
                    f"{manifest.task!r} (which looks at the whole frame)"
                )


def belt_monitor(config: SiteConfig, bundle: Bundle) -> BeltLoadMonitor | None:
    """The site's belt-load monitor, or None; belt load is measured on a segment bundle's masks."""
    if config.belt_load is None:
        return None
    if bundle.manifest.task != "segment":
        raise ConfigError(f"belt_load: needs a segment bundle; {bundle.root} is {bundle.manifest.task!r}")
    return BeltLoadMonitor(config.belt_load, bundle.manifest.classes)


def load_model(bundle: Bundle, config: ModelConfig) -> BundleModel:
    return BundleModel(
        bundle, config.artifact, options=BackendOptions(device=config.device, threads=config.threads)
    )


class Pipeline:
    """The shared inference stage: a batch of frames in, the events they cause delivered to every sink."""

    def __init__(
        self,
        model: BundleModel,
        rules: RuleSet,
        sinks: Sequence[Sink],
        timers: StageTimers,
        *,
        snapshots: SnapshotWriter | None = None,
        live: LatestFrames | None = None,
        belt: BeltLoadMonitor | None = None,
    ) -> None:
        self.model = model
        self.live = live
        self.snapshots = snapshots
        self.belt = belt
        self.rules = rules
        self.sinks = list(sinks)
        self.timers = timers
        self.frames = 0
        self.events = 0
        self.delivery_failures = 0

    def process(self, frames: Sequence[Frame]) -> list[Event]:
        started = time.time()
        for frame in frames:
            self.timers.record("frame_age", (started - frame.ts) * 1000.0)
        predictions = []
        step = self.model.max_batch or len(frames)
        for first in range(0, len(frames), step):
            predictions += self._predict(frames[first : first + step])
        if self.live is not None:
            for frame, prediction in zip(frames, predictions, strict=True):
                self.live.publish(frame, prediction)
        with self.timers.measure("rules"):
            caused = [
                self.rules.evaluate(f, p) + self._belt(f, p) for f, p in zip(frames, predictions, strict=True)
            ]
        if self.snapshots is not None:
            caused = [
                [self._snapshot(f, p, e) for e in group]
                for f, p, group in zip(frames, predictions, caused, strict=True)
            ]
        self.frames += len(frames)
        events = [event for group in caused for event in group]
        self.deliver(events)
        committed = time.time()
        for frame, group in zip(frames, caused, strict=True):
            if group:
                self.timers.record("capture_to_event", (committed - frame.ts) * 1000.0)
        return events

    def _predict(self, frames: Sequence[Frame]) -> list[Prediction]:
        with self.timers.measure("preprocess"):
            batch = self.model.prepare([frame.image for frame in frames])
        with self.timers.measure("infer"):
            outputs = self.model.infer(batch)
        with self.timers.measure("postprocess"):
            return self.model.postprocess(outputs, [frame.image.shape[:2] for frame in frames])

    def _belt(self, frame: Frame, prediction: Prediction) -> list[Event]:
        belt = self.belt
        if belt is None or not belt.config.watches(frame.camera) or not isinstance(prediction, Segmentation):
            return []
        return belt.update(frame, prediction)

    def _snapshot(self, frame: Frame, prediction: Prediction, event: Event) -> Event:
        if event.phase != "start" or self.snapshots is None:
            return event
        name = self.snapshots.write(frame, event, prediction)
        return event if name is None else replace(event, extra={**event.extra, "snapshot": name})

    def finish(self) -> list[Event]:
        """End the events still open (the sources ended or the daemon stops) and deliver the ends."""
        events = self.rules.close() + (self.belt.close() if self.belt is not None else [])
        self.deliver(events)
        return events

    def deliver(self, events: Sequence[Event]) -> None:
        if not events:
            return
        self.events += len(events)
        with self.timers.measure("delivery"):
            for event in events:
                for sink in self.sinks:
                    try:
                        sink.deliver(event)
                    except OSError:  # one broken sink must not stop the others (the outbox will retry)
                        log.exception("sink %s failed to deliver event %s", sink.name, event.id)
                        self.delivery_failures += 1

    def summary(self, duration_s: float, dropped: int = 0) -> PipelineSummary:
        return PipelineSummary(
            artifact=self.model.artifact.key,
            runtime_precision=self.model.runtime_precision,
            frames=self.frames,
            events=self.events,
            dropped=dropped,
            delivery_failures=self.delivery_failures,
            duration_s=round(duration_s, 3),
            fps=round(self.frames / duration_s, 2) if duration_s > 0 else 0.0,
            timing_ms=self.timers.summary(),
        )


def run(
    config: SiteConfig, stop: threading.Event, notifier: SystemdNotifier | None = None
) -> PipelineSummary:
    """Run every camera until all sources end or ``stop`` is set; then stop capture and drain the outbox."""
    notifier = notifier or SystemdNotifier(None)
    bundle = verify_site(config)
    model = load_model(bundle, config.model)
    timers = StageTimers()
    ready = threading.Event()
    with ExitStack() as cleanup:
        sinks = build_sinks(config.sinks)
        for sink in sinks:
            cleanup.callback(sink.close)
        liveness = Liveness(config.watchdog.stall_s)
        outbox = Outbox(config.outbox, sinks, liveness)
        cleanup.callback(outbox.close)  # drains into the sinks before they close
        cameras, raised = [], queue.SimpleQueue[Event]()
        for camera in config.cameras:
            source = open_camera(camera, stop)
            monitor = CameraHealth(camera.name, camera.health, raised.put) if camera.health.enabled else None
            capture = CaptureThread(
                source,
                stop,
                timers,
                realtime=camera.realtime,
                ready=ready,
                observe=monitor.observe if monitor else None,
            )
            cleanup.callback(_release, capture)
            cameras.append(CameraView(camera.name, capture, monitor))
        cleanup.callback(stop.set)  # runs first: every capture thread ends, then joins, then sinks close
        cleanup.callback(notifier.stopping)
        snapshots = SnapshotWriter(config.snapshots, config.rules) if config.snapshots.enabled else None
        live = LatestFrames()
        belt = belt_monitor(config, bundle)
        pipeline = Pipeline(
            model, RuleSet(config.rules), [outbox], timers, snapshots=snapshots, live=live, belt=belt
        )
        started = time.monotonic()
        view = DaemonView(
            config,
            model.artifact.key,
            model.runtime_precision,
            model.manifest,
            cameras,
            outbox,
            timers,
            live,
            started,
            belt=belt,
            liveness=liveness,
            snapshots=snapshots,
        )
        if config.http.enabled:
            cleanup.callback(WebServer(config.http, view).close)
        for camera_view in cameras:
            camera_view.capture.start()
        log.info("running %d camera(s) on %s", len(cameras), model.artifact.key)
        notifier.ready()
        stalled: dict[str, float] = {}
        try:
            while not stop.is_set():
                stalled = _pet_watchdog(notifier, liveness, stalled)
                ready.wait(IDLE_WAIT_S)
                ready.clear()
                for camera_view in cameras:
                    if camera_view.health is not None and not camera_view.capture.exhausted:
                        camera_view.health.tick()
                pipeline.deliver(_drain(raised))
                frames = [frame for c in cameras if (frame := c.capture.take()) is not None]
                if frames:
                    with liveness.busy("inference"):
                        pipeline.process(frames)
                elif all(c.capture.exhausted for c in cameras):
                    break
        finally:
            pipeline.deliver(_drain(raised))
            pipeline.finish()
        return pipeline.summary(
            time.monotonic() - started, dropped=sum(c.capture.stats.dropped for c in cameras)
        )


def _pet_watchdog(
    notifier: SystemdNotifier, liveness: Liveness, before: dict[str, float]
) -> dict[str, float]:
    """Pet systemd's watchdog only while no stage hangs, so systemd restarts a daemon with a stuck sink."""
    stalled = liveness.stalled()
    if stalled and stalled.keys() != before.keys():
        log.error(
            "stalled: %s; no longer petting the watchdog",
            ", ".join(f"{stage} busy {seconds:.0f} s" for stage, seconds in stalled.items()),
        )
    elif before and not stalled:
        log.info("no stage stalled any more; petting the watchdog again")
    if not stalled:
        notifier.watchdog()
    return stalled


def _drain(events: queue.SimpleQueue[Event]) -> list[Event]:
    drained = []
    while not events.empty():
        drained.append(events.get_nowait())
    return drained


def _release(capture: CaptureThread) -> None:
    """Close a camera's source once its thread has let go; one still blocked in read() keeps it."""
    if capture.join(JOIN_TIMEOUT_S):
        capture.source.close()


def replay(
    config: SiteConfig, video: Path, *, camera: str | None = None, sinks: Sequence[Sink] = ()
) -> ReplayResult:
    """Run every frame of ``video`` as the camera ``camera`` (default: the first) on the caller's thread.

    The camera's name and stride apply; loop and realtime pacing do not. Deterministic: the same
    video and configuration give the same events (ids and wall-clock times aside).
    """
    bundle = verify_site(config)
    settings = config.camera(camera).model_copy(
        update={"source": str(video), "loop": False, "realtime": False}
    )
    timers = StageTimers()
    pipeline = Pipeline(
        load_model(bundle, config.model), RuleSet(config.rules), sinks, timers, belt=belt_monitor(config, bundle)
    )
    events: list[Event] = []
    started = time.monotonic()
    with closing(open_source(settings)) as source:
        for frame in iter_frames(source, timers):
            events += pipeline.process([frame])
    if pipeline.frames == 0:
        raise SourceError(f"{video}: no frame could be decoded")
    events += pipeline.finish()
    return ReplayResult(events=events, summary=pipeline.summary(time.monotonic() - started))


def replay_tolerance(config: SiteConfig, camera: str | None = None) -> int:
    """Frames an event may trail its truth interval's end: the longest debounce window, in video frames."""
    settings = config.camera(camera)
    windows = [rule.debounce.window for rule in config.rules if rule.watches(settings.name)]
    return max(windows, default=0) * settings.stride
