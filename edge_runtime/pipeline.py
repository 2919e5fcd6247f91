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
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, closing
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.beltload import BeltLoadMonitor
from edge_runtime.bundle import Bundle, Manifest, load_bundle
from edge_runtime.config import ModelConfig, SiteConfig, check_rule_labels
from edge_runtime.control import open_control_outputs
from edge_runtime.errors import ConfigError, SourceError
from edge_runtime.events import Event, Sink
from edge_runtime.health import CameraHealth
from edge_runtime.live import LatestFrames
from edge_runtime.liveness import Liveness
from edge_runtime.model import BundleModel
from edge_runtime.model import load_model as open_model
from edge_runtime.observe import CameraView, DaemonView
from edge_runtime.outbox import Outbox
from edge_runtime.outbox_store import OutboxLock
from edge_runtime.postprocess import Prediction, Segmentation
from edge_runtime.rules import RuleSet
from edge_runtime.signal_monitor import MachineThread, SignalMonitor, verify_machine
from edge_runtime.signing import check_signature
from edge_runtime.sinks import build_sinks
from edge_runtime.siteloop.loop import SiteLoop
from edge_runtime.siteloop.promote import Promotions
from edge_runtime.siteloop.shadow import check_candidate
from edge_runtime.snapshots import SnapshotWriter, snapshot_url
from edge_runtime.sources import CaptureThread, Frame, iter_frames, open_camera, open_source, read_ahead
from edge_runtime.state import EventTally
from edge_runtime.systemd import SystemdNotifier
from edge_runtime.timing import LatencyStats, StageTimers
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
    timing_ms: dict[str, LatencyStats]
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


def verify_site(config: SiteConfig) -> Bundle:
    """Start-up checks of a camera site (see ``verify_daemon``); the cameras' bundle."""
    return verify_daemon(config).camera_bundle


def verify_daemon(config: SiteConfig) -> SiteBundles:
    """Start-up checks needing no camera: bundle digests, artifacts, rule labels among the classes,
    each machine's bundle and recording."""
    machines = {machine.name: verify_machine(machine, i) for i, machine in enumerate(config.machines)}
    for machine in config.machines:  # signed by a trusted key, when the site requires it
        check_signature(machines[machine.name].root, config.trust, label=str(machine.bundle))
    classes = {name: bundle.manifest.classes for name, bundle in machines.items()}
    for index, rule in enumerate(config.rules):
        if rule.camera in machines and (rule.zone is not None or rule.tripwire is not None):
            raise ConfigError(
                f"rules[{index}]: zone and tripwire need a detect bundle; {rule.camera!r} runs 'signal' "
                "(which looks at a whole window)"
            )
    if not config.cameras:
        check_rule_labels(config, [], classes)
        if config.belt_load is not None:
            raise ConfigError("belt_load: needs a camera with a segment bundle; this site has only machines")
        return SiteBundles(None, machines)
    bundle = load_bundle(config.model.bundle)
    check_signature(bundle.root, config.trust, label=str(config.model.bundle))
    load_model(bundle, config.model)  # the model against its manifest: shapes, classes (exit 2 naming the field)
    check_rules(config, bundle.manifest, bundle.root, classes)
    if config.site_loop.shadow is not None:
        check_candidate(config, config.site_loop.shadow, bundle.manifest)
    belt_monitor(config, bundle)
    return SiteBundles(bundle, machines)


def check_rules(
    config: SiteConfig, manifest: Manifest, bundle: Path | str, machines: Mapping[str, Sequence[str]] | None = None
) -> None:
    """Rules the bundle can serve: labels among its classes, zones and tripwires only on detections.

    ``machines``: each machine's classes; None leaves the rules that watch a machine unchecked.
    """
    check_rule_labels(config, manifest.classes, machines)
    if manifest.task != "detect":
        for index, rule in enumerate(config.rules):
            if (rule.zone is not None or rule.tripwire is not None) and rule.camera not in (machines or {}):
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
    return open_model(
        bundle, config.artifact, precision=config.precision, device=config.device, threads=config.threads, mode=config.mode
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
        live: LatestFrames | None = None,
        belt: BeltLoadMonitor | None = None,
        site_loop: SiteLoop | None = None,
    ) -> None:
        self.model = model
        self.site_loop = site_loop
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
        step = (self.model.max_batch if self.model else None) or len(frames)
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
        if self.site_loop is not None:
            with self.timers.measure("site_loop"):
                events += self.site_loop.observe(frames, predictions, caused)
        self.deliver(events)
        committed = time.time()
        for frame, group in zip(frames, caused, strict=True):
            if group:
                self.timers.record("capture_to_event", (committed - frame.ts) * 1000.0)
        return events

    def _predict(self, frames: Sequence[Frame]) -> list[Prediction]:
        if self.model is None:
            raise ConfigError("frames to classify but no camera model (a machines-only site)")
        if all(frame.tensor is not None for frame in frames):  # prepared ahead, timed there
            batch = np.concatenate([frame.tensor for frame in frames])
        else:
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
        if name is None:
            return event
        return replace(event, extra={**event.extra, "snapshot": snapshot_url(name)})

    def finish(self) -> list[Event]:
        """End the events still open (the sources ended or the daemon stops) and deliver the ends."""
        events = self.rules.close() + (self.belt.close() if self.belt is not None else [])
        events += self.site_loop.close() if self.site_loop is not None else []
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
                    except Exception:  # noqa: BLE001 - one broken sink must not stop the others or inference
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
    config: SiteConfig,
    stop: threading.Event,
    notifier: SystemdNotifier | None = None,
    on_view: Callable[[DaemonView], None] | None = None,
    promotions: Promotions | None = None,
) -> PipelineSummary:
    """Run every camera and machine until all sources end or ``stop`` is set; then stop and drain the outbox.

    ``on_view`` is handed the run's live objects once everything has started (the fleet reads them);
    ``promotions`` (the supervisor's, which outlives this run) takes the dashboard's promote requests.
    """
    notifier = notifier or SystemdNotifier(None)
    bundles = verify_daemon(config)
    bundle = bundles.cameras
    model = load_model(bundle, config.model) if bundle is not None else None
    timers = StageTimers()
    ready = threading.Event()
    with ExitStack() as cleanup:
        # before any sink connects: a second daemon on this outbox must not even say "online" on MQTT
        lock = OutboxLock(config.outbox.path)
        cleanup.callback(lock.release)
        sinks = build_sinks(config.sinks)
        for sink in sinks:
            cleanup.callback(sink.close)
        liveness = Liveness(config.watchdog.stall_s)
        outbox = Outbox(config.outbox, sinks, liveness, lock=lock)
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
        tally = EventTally()  # each source's last event and counts, for the control-system outputs
        machines = [
            MachineThread(
                SignalMonitor(m, bundles.machines[m.name], config.rules, _committer(outbox, tally)),
                stop,
                ready,
            )
            for m in config.machines
        ]
        cleanup.callback(stop.set)  # runs first: every capture thread ends, then joins, then sinks close
        cleanup.callback(notifier.stopping)
        snapshots = SnapshotWriter(config.snapshots, config.rules) if config.snapshots.enabled else None
        live = LatestFrames()
        belt = belt_monitor(config, bundle) if bundle is not None else None
        site_loop = SiteLoop.build(config, bundle, model.artifact.key, timers) if bundle and model else None
        pipeline = Pipeline(
            model, RuleSet(config.rules), [outbox, tally], timers, snapshots=snapshots, live=live, belt=belt,
            site_loop=site_loop,
        )
        started = time.monotonic()
        # the dashboard's model card: the cameras' model, or the first machine's on a machines-only site
        shown = model or (machines[0].monitor.model if machines else None)
        artifact = model.artifact.key if model is not None else ""
        view = DaemonView(
            config,
            shown.artifact.key if shown else "",
            shown.runtime_precision if shown else "",
            shown.manifest if shown else None,
            cameras,
            outbox,
            timers,
            live,
            started,
            belt=belt,
            liveness=liveness,
            snapshots=snapshots,
            machines=[m.monitor for m in machines],
            site_loop=site_loop,
            promotions=promotions,
        )
        if config.http.enabled:
            cleanup.callback(WebServer(config.http, view).close)
        for close in open_control_outputs(config, view, tally, sinks):
            cleanup.callback(close)
        for camera_view in cameras:
            camera_view.capture.start()
        for machine in machines:
            machine.start()
        log.info("running %d camera(s) on %s and %d machine(s)", len(cameras), artifact or "-", len(machines))
        if on_view is not None:
            on_view(view)
        notifier.ready()
        stalled: dict[str, float] = {}
        try:
            while not stop.is_set():
                stalled = _pet_watchdog(notifier, view.stalled(), stalled)
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


def _committer(*sinks: Sink) -> Callable[[Sequence[Event]], None]:
    """A machine's events go to the durable outbox, like the cameras' (both sinks are thread-safe)."""

    def commit(events: Sequence[Event]) -> None:
        for event in events:
            for sink in sinks:
                sink.deliver(event)

    return commit


def _pet_watchdog(
    notifier: SystemdNotifier, stalled: dict[str, float], before: dict[str, float]
) -> dict[str, float]:
    """Pet systemd's watchdog only while no stage hangs and every sink loop keeps trying, so systemd
    restarts a daemon with a stuck sink (the outbox keeps the events across the restart)."""
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
    """Run every frame of ``video`` as the camera ``camera`` (default: the first), none dropped.

    Frames are decoded and preprocessed one thread ahead of inference (a live capture thread
    decodes ahead too); inference, rules and delivery run on the caller's thread.

    The camera's name and stride apply; loop and realtime pacing do not. Deterministic: the same
    video and configuration give the same events (ids and wall-clock times aside).
    """
    bundle = verify_site(config)
    settings = config.camera(camera).model_copy(
        update={"source": str(video), "loop": False, "realtime": False}
    )
    timers = StageTimers()
    model = load_model(bundle, config.model)
    site_loop = SiteLoop.build(config, bundle, model.artifact.key, timers)
    pipeline = Pipeline(
        model, RuleSet(config.rules), sinks, timers, belt=belt_monitor(config, bundle), site_loop=site_loop
    )
    events: list[Event] = []
    started = time.monotonic()
    with (
        closing(open_source(settings)) as source,
        read_ahead(prepared(iter_frames(source, timers), model, timers)) as frames,
    ):
        for frame in frames:
            events += pipeline.process([frame])
    if pipeline.frames == 0:
        raise SourceError(f"{video}: no frame could be decoded")
    events += pipeline.finish()
    return ReplayResult(events=events, summary=pipeline.summary(time.monotonic() - started))


def prepared(frames: Iterator[Frame], model: BundleModel, timers: StageTimers) -> Iterator[Frame]:
    """Each frame with its model input attached: run on the read-ahead thread, off the inference path."""
    for frame in frames:
        with timers.measure("preprocess"):
            tensor = model.prepare([frame.image])
        yield replace(frame, tensor=tensor)


def replay_tolerance(config: SiteConfig, camera: str | None = None) -> int:
    """Frames an event may trail its truth interval's end: the longest debounce window, in video frames."""
    settings = config.camera(camera)
    windows = [rule.debounce.window for rule in config.rules if rule.watches(settings.name)]
    return max(windows, default=0) * settings.stride
