"""The live daemon put together: sources -> model -> rules -> sinks (``run``), until stopped.

Start-up checks and loading are in ``startup``; the same stages over a video file, every frame, in
``replay``.

One shared inference stage (``inference.Pipeline``) serves every camera: ``serve.ServeLoop`` starts
the most overdue cameras' newest frames on the model as it can take them and collects the results
(``scheduler``); ``capacity`` says when the box cannot keep up. Every stage is timed into
``StageTimers``. Each monitored machine runs on its own thread (``signal_monitor``) and commits to
the same outbox.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import replace

from edge_runtime.bundle import Bundle
from edge_runtime.capacity import CapacityMonitor, WatchedCamera
from edge_runtime.capture import CaptureThread
from edge_runtime.config import SiteConfig
from edge_runtime.control import open_control_outputs
from edge_runtime.events import Event, Sink
from edge_runtime.health import CameraHealth
from edge_runtime.inference import Pipeline, PipelineSummary
from edge_runtime.inference_faults import InferenceFaults
from edge_runtime.live import LatestFrames
from edge_runtime.liveness import Liveness
from edge_runtime.machine_thread import MachineThread
from edge_runtime.observe import CameraView, DaemonView
from edge_runtime.outbox import Outbox
from edge_runtime.outbox_store import OutboxLock
from edge_runtime.rule_errors import RuleErrors
from edge_runtime.rules import RuleSet
from edge_runtime.scheduler import FairScheduler
from edge_runtime.serve import ServeLoop
from edge_runtime.signal_monitor import SignalMonitor
from edge_runtime.sinks import build_sinks
from edge_runtime.siteloop.loop import SiteLoop
from edge_runtime.siteloop.promote import Promotions
from edge_runtime.siteloop.signal_windows import EventWindows
from edge_runtime.snapshots import SnapshotWriter
from edge_runtime.sources import open_camera
from edge_runtime.startup import SiteBundles, belt_monitor, verify_daemon
from edge_runtime.state import EventTally
from edge_runtime.systemd import SystemdNotifier
from edge_runtime.timing import StageTimers
from edge_runtime.web.server import WebServer

log = logging.getLogger(__name__)

JOIN_TIMEOUT_S = 5.0  # longer than a stream's 2 s read timeout, so a healthy capture thread always ends


def run(
    config: SiteConfig,
    stop: threading.Event,
    notifier: SystemdNotifier | None = None,
    on_view: Callable[[DaemonView], None] | None = None,
    *,
    timers: StageTimers | None = None,
    promotions: Promotions | None = None,
    verified: SiteBundles | None = None,
) -> PipelineSummary:
    """Run every camera and machine until all sources end or ``stop`` is set; then stop and drain the outbox.

    ``on_view`` is handed the run's live objects once everything has started (the fleet reads them);
    ``timers``: where every stage is timed (a benchmark passes its own to read a window of samples);
    ``promotions`` (the supervisor's, which outlives this run) takes the dashboard's promote requests;
    ``verified``: ``verify_daemon(config)`` already done (a reload checks before it runs), whose
    compiled models this run takes over; None verifies here.
    """
    notifier = notifier or SystemdNotifier(None)
    bundles = verified or verify_daemon(config)
    bundle = bundles.cameras
    model = bundles.model  # compiled once, by the check
    timers = timers or StageTimers()
    ready = threading.Event()
    with ExitStack() as cleanup:
        # before any sink connects: a second daemon on this outbox must not even say "online" on MQTT
        lock = OutboxLock(config.outbox.path)
        cleanup.callback(lock.release)
        sinks = build_sinks(config.sinks)
        for sink in sinks:
            cleanup.callback(sink.close)
        liveness = Liveness(config.watchdog.stall_s)
        tally = EventTally()  # each source's last event and counts, for the control-system outputs
        # the tally hears each event once the outbox has accepted it, in commit order
        outbox = Outbox(config.outbox, sinks, liveness, lock=lock, followers=[tally], timers=timers)
        cleanup.callback(outbox.close)  # drains into the sinks before they close
        cameras, raised = [], queue.SimpleQueue[Event]()
        # a frame the model fails on is counted and skipped; a camera that keeps failing raises a health event
        faults = InferenceFaults(config.inference_failures, model.artifact.key if model else "", raised.put)
        rule_errors = RuleErrors(config.inference_failures.log_every_s)  # a frame whose rules raised: skipped
        for index, camera in enumerate(config.cameras):
            # each camera's inference slots a different share into the period: their frames come due
            # in turn, not all at the same moment
            source = open_camera(camera, stop, slot_phase=index / len(config.cameras))
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
            cameras.append(CameraView(camera.name, capture, monitor, rule_errors))
        machines = [
            MachineThread(
                SignalMonitor(
                    m,
                    bundles.machines[m.name],
                    config.rules,
                    _committer(outbox),
                    windows=machine_windows(config, m.name),
                    faults=InferenceFaults(
                        config.inference_failures,
                        bundles.machines[m.name].artifact.key,
                        lambda event: _committer(outbox)([event]),
                    ),
                ),
                stop,
                ready,
                config.inference_failures.log_every_s,
            )
            for m in config.machines
        ]
        cleanup.callback(stop.set)  # runs first: every capture thread ends, then joins, then sinks close
        cleanup.callback(notifier.stopping)
        snapshots = SnapshotWriter(config.snapshots, config.rules) if config.snapshots.enabled else None
        live = LatestFrames()
        belt = belt_monitor(config, bundle) if bundle is not None else None
        watched = [
            WatchedCamera(c.name, view.capture, c.infer_fps)
            for c, view in zip(config.cameras, cameras, strict=True)
        ]
        capacity = CapacityMonitor(watched, config.capacity, raised.put)
        site_loop = SiteLoop.build(config, bundle, model.artifact.key, timers) if bundle and model else None
        pipeline = Pipeline(
            model,
            RuleSet(config.rules),
            [outbox],
            timers,
            snapshots=snapshots,
            live=live,
            belt=belt,
            site_loop=site_loop,
            on_age=capacity.record,
            finished=ready,
            faults=faults,
            rule_errors=rule_errors,
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
            capacity=capacity,
            site_loop=site_loop,
            promotions=promotions,
            recommended=_recommended(bundle),
            faults=faults,
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
        loop = ServeLoop(
            pipeline,
            FairScheduler([c.capture for c in cameras], [c.infer_fps for c in config.cameras]),
            cameras,
            capacity,
            liveness,
            notifier,
            stalled=view.stalled,
            raised=raised,
            ready=ready,
            stop=stop,
            machines_alive=lambda: any(m.is_alive() for m in machines),
        )
        try:
            loop.run()
        finally:
            pipeline.finish()
            loop.drain_raised()  # also what the last frames raised (inference_failing)
            stop.set()  # machines stop between chunks; their open events end after their last window
            for machine in machines:
                machine.join(JOIN_TIMEOUT_S)
                machine.finish()
        summary = pipeline.summary(
            time.monotonic() - started, dropped=sum(c.capture.stats.dropped for c in cameras)
        )
        return replace(
            summary,
            events=summary.events + sum(m.monitor.events for m in machines),
            machines={m.monitor.config.name: m.monitor.state() for m in machines},
        )


def machine_windows(config: SiteConfig, machine: str) -> EventWindows | None:
    """Where a machine keeps its event windows: ``site_loop.capture.folder/windows/<machine>``, when
    capture (and event capture) is on, so operator feedback on its events has the samples."""
    capture = config.site_loop.capture
    if not (capture.enabled and capture.events):
        return None
    return EventWindows(capture.folder / "windows" / machine)


def _committer(*sinks: Sink) -> Callable[[Sequence[Event]], None]:
    """A machine's events go to the durable outbox, like the cameras' (thread-safe; durable on return)."""

    def commit(events: Sequence[Event]) -> None:
        for event in events:
            for sink in sinks:
                sink.deliver(event)

    return commit


def _release(capture: CaptureThread) -> None:
    """Close a camera's source once its thread has let go; one still blocked in read() keeps it."""
    if capture.join(JOIN_TIMEOUT_S):
        capture.source.close()


def _recommended(bundle: Bundle | None) -> tuple[str, str]:
    """The artifact the bundle recommends for this box, and why, for the dashboard beside the one in use."""
    if bundle is None:
        return "", ""
    artifact, why = bundle.recommended()
    return artifact.key, why
