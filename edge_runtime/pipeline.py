"""The daemon's pipeline: sources -> model -> rules -> sinks, live (``run``) or deterministic (``replay``).

One shared inference stage serves every camera: each pass takes the newest frame of every camera
that has one and classifies them as one batch. Every stage is timed into ``StageTimers``. Each
monitored machine runs on its own thread (``signal_monitor``) and commits to the same outbox.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack, closing
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from edge_runtime.backends import BackendOptions
from edge_runtime.bundle import Bundle, load_bundle
from edge_runtime.config import ModelConfig, SiteConfig, check_rule_labels
from edge_runtime.errors import BundleError, ConfigError, SourceError
from edge_runtime.events import Event, Sink
from edge_runtime.health import CameraHealth
from edge_runtime.model import BundleModel
from edge_runtime.observe import CameraView, DaemonView, ObserveServer
from edge_runtime.outbox import Outbox
from edge_runtime.postprocess import Prediction, decoder_for, list_postprocess
from edge_runtime.rules import RuleSet
from edge_runtime.signal_monitor import MachineThread, SignalMonitor, verify_machine
from edge_runtime.sinks import build_sinks
from edge_runtime.snapshots import SnapshotWriter
from edge_runtime.sources import CaptureThread, Frame, iter_frames, open_camera, open_source
from edge_runtime.systemd import SystemdNotifier
from edge_runtime.timing import StageStats, StageTimers

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
    machines: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ReplayResult:
    events: list[Event]
    summary: PipelineSummary


@dataclass(frozen=True)
class SiteBundles:
    """The verified bundles of a site: the cameras' (None without cameras) and each machine's."""

    cameras: Bundle | None
    machines: dict[str, Bundle]

    @property
    def camera_bundle(self) -> Bundle:
        if self.cameras is None:
            raise ConfigError("the configuration has no cameras (only machines)")
        return self.cameras


def verify_site(config: SiteConfig) -> SiteBundles:
    """Start-up checks needing no camera: bundle digests, artifacts, rule labels among the classes."""
    bundle = _verify_camera_bundle(config) if config.cameras else None
    machines = {machine.name: verify_machine(machine, i) for i, machine in enumerate(config.machines)}
    classes = {camera.name: bundle.manifest.classes for camera in config.cameras if bundle is not None}
    classes |= {name: machine.manifest.classes for name, machine in machines.items()}
    check_rule_labels(config, classes)
    machine_names = set(machines)
    for index, rule in enumerate(config.rules):
        on_detections = bundle is not None and bundle.manifest.task == "detect" and rule.camera not in machine_names
        if (rule.zone is not None or rule.tripwire is not None) and not on_detections:
            task = "signal" if rule.camera in machine_names or bundle is None else bundle.manifest.task
            raise ConfigError(
                f"rules[{index}]: zone and tripwire need a detect bundle; {rule.camera!r} runs "
                f"{task!r} (which looks at the whole frame or window)"
            )
    return SiteBundles(bundle, machines)


def _verify_camera_bundle(config: SiteConfig) -> Bundle:
    bundle = load_bundle(config.model.bundle)
    if decoder_for(bundle.manifest.task) is None:
        raise BundleError(
            f"{bundle.root}: task {bundle.manifest.task!r} has no post-processing; "
            f"known: {', '.join(list_postprocess())}"
        )
    bundle.artifact(config.model.artifact)
    return bundle


def load_model(bundle: Bundle, config: ModelConfig) -> BundleModel:
    return BundleModel(
        bundle, config.artifact, options=BackendOptions(device=config.device, threads=config.threads)
    )


class Pipeline:
    """The shared inference stage: a batch of frames in, the events they cause delivered to every sink."""

    def __init__(
        self,
        model: BundleModel | None,
        rules: RuleSet,
        sinks: Sequence[Sink],
        timers: StageTimers,
        *,
        snapshots: SnapshotWriter | None = None,
    ) -> None:
        self.model = model
        self.snapshots = snapshots
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
        step = (self.model.max_batch if self.model else None) or len(frames)
        for first in range(0, len(frames), step):
            predictions += self._predict(frames[first : first + step])
        with self.timers.measure("rules"):
            caused = [self.rules.evaluate(f, p) for f, p in zip(frames, predictions, strict=True)]
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
        if self.model is None:
            raise ConfigError("frames to classify but no camera model (a machines-only site)")
        with self.timers.measure("preprocess"):
            batch = self.model.prepare([frame.image for frame in frames])
        with self.timers.measure("infer"):
            outputs = self.model.infer(batch)
        with self.timers.measure("postprocess"):
            return self.model.postprocess(outputs, [frame.image.shape[:2] for frame in frames])

    def _snapshot(self, frame: Frame, prediction: Prediction, event: Event) -> Event:
        if event.phase != "start" or self.snapshots is None:
            return event
        name = self.snapshots.write(frame, event, prediction)
        return event if name is None else replace(event, extra={**event.extra, "snapshot": name})

    def finish(self) -> list[Event]:
        """End the events still open (the sources ended or the daemon stops) and deliver the ends."""
        events = self.rules.close()
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
            artifact=self.model.artifact.key if self.model else "",
            runtime_precision=self.model.runtime_precision if self.model else "",
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
    """Run every camera and machine until all sources end or ``stop`` is set; then stop and drain the outbox."""
    notifier = notifier or SystemdNotifier(None)
    bundles = verify_site(config)
    model = load_model(bundles.cameras, config.model) if bundles.cameras is not None else None
    timers = StageTimers()
    ready = threading.Event()
    with ExitStack() as cleanup:
        sinks = build_sinks(config.sinks)
        for sink in sinks:
            cleanup.callback(sink.close)
        outbox = Outbox(config.outbox, sinks)
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
        machines = [
            MachineThread(SignalMonitor(m, bundles.machines[m.name], config.rules, _committer(outbox)), stop, ready)
            for m in config.machines
        ]
        cleanup.callback(stop.set)  # runs first: every capture thread ends, then joins, then sinks close
        cleanup.callback(notifier.stopping)
        snapshots = SnapshotWriter(config.snapshots, config.rules) if config.snapshots.enabled else None
        pipeline = Pipeline(model, RuleSet(config.rules), [outbox], timers, snapshots=snapshots)
        started = time.monotonic()
        artifact = model.artifact.key if model is not None else ""
        view = DaemonView(config, artifact, cameras, outbox, timers, started, [m.monitor for m in machines])
        if config.http.enabled:
            cleanup.callback(ObserveServer(config.http, view).close)
        for camera_view in cameras:
            camera_view.capture.start()
        for machine in machines:
            machine.start()
        log.info("running %d camera(s) on %s and %d machine(s)", len(cameras), artifact or "-", len(machines))
        notifier.ready()
        try:
            while not stop.is_set():
                notifier.watchdog()
                ready.wait(IDLE_WAIT_S)
                ready.clear()
                for camera_view in cameras:
                    if camera_view.health is not None and not camera_view.capture.exhausted:
                        camera_view.health.tick()
                pipeline.deliver(_drain(raised))
                frames = [frame for c in cameras if (frame := c.capture.take()) is not None]
                if frames:
                    pipeline.process(frames)
                elif all(c.capture.exhausted for c in cameras) and not any(m.is_alive() for m in machines):
                    break
        finally:
            pipeline.deliver(_drain(raised))
            pipeline.finish()
            stop.set()  # machines stop between chunks; their open events end after their last window
            for machine in machines:
                machine.join(JOIN_TIMEOUT_S)
                machine.monitor.finish()
        summary = pipeline.summary(
            time.monotonic() - started, dropped=sum(c.capture.stats.dropped for c in cameras)
        )
        return replace(
            summary,
            events=summary.events + sum(m.monitor.events for m in machines),
            machines={m.monitor.config.name: m.monitor.state() for m in machines},
        )


def _committer(outbox: Outbox) -> Callable[[Sequence[Event]], None]:
    """A machine's events go to the durable outbox, like the cameras' (it is thread-safe)."""

    def commit(events: Sequence[Event]) -> None:
        for event in events:
            outbox.deliver(event)

    return commit


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
    bundle = verify_site(config).camera_bundle
    settings = config.camera(camera).model_copy(
        update={"source": str(video), "loop": False, "realtime": False}
    )
    timers = StageTimers()
    pipeline = Pipeline(load_model(bundle, config.model), RuleSet(config.rules), sinks, timers)
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
