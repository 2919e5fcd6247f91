"""What a running daemon says about itself: /healthz, /metrics (Prometheus) and /status (JSON).

Everything is read on request from the live objects (capture threads, health monitors, outbox,
stage timers, the latest frames), so the hot path pays nothing for observation. ``edge_runtime.web``
serves these and the dashboard. Configuration shown in /status has its secrets redacted by pydantic
(``SecretStr``) and URLs stripped of passwords.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from edge_runtime.beltload import BeltLoadMonitor
from edge_runtime.bundle import Manifest
from edge_runtime.capacity import CapacityMonitor
from edge_runtime.capture import CaptureThread
from edge_runtime.config import SiteConfig
from edge_runtime.health import CameraHealth
from edge_runtime.inference_faults import InferenceFaults
from edge_runtime.live import LatestFrames
from edge_runtime.liveness import Liveness
from edge_runtime.outbox import Outbox
from edge_runtime.redact import redact
from edge_runtime.rule_errors import CONDITION as RULES_FAILING
from edge_runtime.rule_errors import RuleErrors
from edge_runtime.signal_monitor import SignalMonitor
from edge_runtime.siteloop.loop import SiteLoop
from edge_runtime.siteloop.promote import Promotions
from edge_runtime.snapshots import SnapshotWriter
from edge_runtime.timing import BUCKETS_MS, STAGES, StageTimers

CameraState = Literal["online", "reconnecting", "offline", "blind", "ended"]
BLIND = frozenset({"frozen", "dark", "obscured"})  # frames arrive, but show nothing usable


@dataclass
class CameraView:
    name: str
    capture: CaptureThread
    health: CameraHealth | None
    rule_errors: RuleErrors = field(default_factory=RuleErrors)  # the daemon's is shared by every camera

    def state(self) -> dict[str, Any]:
        source = self.capture.source
        stats = self.capture.stats
        return self.rule_errors.state(self.name) | {
            "connected": getattr(source, "connected", not self.capture.exhausted),
            "ended": self.capture.exhausted,
            "reconnects": getattr(source, "reconnects", 0),
            "decoded": getattr(source, "frames_read", stats.captured),  # also the frames only grabbed
            "captured": stats.captured,
            "processed": stats.delivered,
            "dropped": stats.dropped,
            "conditions": self.health.active if self.health else [],
            "measures": dict(self.health.measures) if self.health else {},
        }

    def summary_state(self) -> CameraState:
        """One word for the overview: what a technician must act on first."""
        state = self.state()
        if state["ended"]:
            return "ended"
        if not state["connected"]:
            return "reconnecting"
        if "no_frames" in state["conditions"]:
            return "offline"
        if set(state["conditions"]) & BLIND:
            return "blind"
        return "online"


@dataclass
class DaemonView:
    """The live objects of one run, read by the HTTP handlers."""

    config: SiteConfig
    artifact: str
    runtime_precision: str
    manifest: Manifest | None  # None: no model at all (cannot happen with a camera or machine)
    cameras: list[CameraView]
    outbox: Outbox
    timers: StageTimers
    live: LatestFrames
    started: float
    belt: BeltLoadMonitor | None = None
    liveness: Liveness | None = None
    snapshots: SnapshotWriter | None = None
    machines: list[SignalMonitor] = field(default_factory=list)
    capacity: CapacityMonitor | None = None
    site_loop: SiteLoop | None = None
    promotions: Promotions | None = None  # the supervisor's, when site_loop.promote is set
    recommended: tuple[str, str] = ("", "")  # the bundle's recommended artifact and why (Bundle.recommended)
    faults: InferenceFaults | None = None  # the cameras' model failing on frames (machines: in their state)

    def belt_states(self) -> dict[str, dict[str, object]]:
        """Each belt camera's load, speed recommendation and overload state (empty without belt_load)."""
        states = list(self.belt.states.items()) if self.belt is not None else []  # copy: the pipeline adds
        return {camera: state.view() for camera, state in states}

    def camera(self, name: str) -> CameraView | None:
        return next((camera for camera in self.cameras if camera.name == name), None)

    def storage(self) -> dict[str, Any]:
        """The outbox's and the snapshots' volume: a full disk is reported here, not as a crash."""
        outbox = self.outbox.storage_error
        snapshots = self.snapshots.last_error if self.snapshots else None
        return {
            "ok": outbox is None and snapshots is None,
            "outbox_error": outbox,
            "outbox_held": self.outbox.held,
            "snapshot_error": snapshots,
        }

    def healthz(self) -> tuple[bool, dict[str, Any]]:
        """Healthy when every camera delivers (or has ended) with no raised condition and every sink works."""
        cameras = {}
        for camera in self.cameras:
            state = camera.state()
            conditions = self.conditions(camera, state)
            ok = (state["connected"] or state["ended"]) and not conditions
            cameras[camera.name] = {"ok": ok, "conditions": conditions}
        sinks = {name: self.sink_health(name) for name in self.outbox.states}
        machines = {
            m.config.name: {"ok": m.error is None and not m.state()["inference_failing"], "error": m.error}
            for m in self.machines
        }
        storage = self.storage()
        stalled = self.stalled()
        ok = (
            all(part["ok"] for group in (cameras, machines, sinks) for part in group.values())
            and storage["ok"]
            and not stalled
        )
        body = {"ok": ok, "cameras": cameras, "machines": machines, "sinks": sinks, "storage": storage}
        if self.capacity is not None:  # reported, not a failure: every camera still runs, at a lower rate
            body["over_capacity"] = self.capacity.over
        return ok, body | {"stalled": stalled}

    def conditions(self, camera: CameraView, state: dict[str, Any]) -> list[str]:
        """The camera's raised health conditions (``state``: its ``state()``), ``inference_failing``:
        frames arrive, but the model fails on them (so no event can come), and ``rules_failing``: the
        model works, but the camera's rules raised on its last frame (its events are lost)."""
        failing = self.faults is not None and camera.name in self.faults.failing
        broken = [RULES_FAILING] if state["error"] is not None else []
        return state["conditions"] + (["inference_failing"] if failing else []) + broken

    def sink_health(self, name: str) -> dict[str, Any]:
        """A sink is healthy when its last attempt worked and it has not gone ``no_progress_s`` without
        delivering while events wait (a hung receiver fails no attempt, yet delivers nothing)."""
        state = self.outbox.states[name]
        undelivered = round(self.outbox.undelivered_s(name), 1)
        return {
            "ok": state.healthy and undelivered <= self.config.watchdog.no_progress_s,
            "pending": self.outbox.depth(name),
            "last_error": state.last_error,
            "undelivered_s": undelivered,
            "dead_letters": state.dead_letters,
        }

    def stalled(self) -> dict[str, float]:
        """Stages busy too long (liveness) and sink loops that stopped trying: why the watchdog is not fed."""
        stalled = self.liveness.stalled() if self.liveness else {}
        for name in self.outbox.states:
            overdue = self.outbox.untried_s(name)
            if overdue > self.config.watchdog.no_progress_s:
                stalled[f"sink:{name}"] = max(stalled.get(f"sink:{name}", 0.0), round(overdue, 1))
        return stalled

    def status(self) -> dict[str, Any]:
        config = redact(self.config.model_dump(mode="json"))  # SecretStr fields dump as "**********"
        return {
            "uptime_s": round(time.monotonic() - self.started, 1),
            "artifact": self.artifact,
            "runtime_precision": self.runtime_precision,
            "cameras": {camera.name: camera.state() for camera in self.cameras},
            "machines": {machine.config.name: machine.state() for machine in self.machines},
            "outbox": {
                "depth": self.outbox.depth(),
                "dropped": self.outbox.dropped,
                # the group commit: events waiting for the writer; producers that waited on a full queue
                "queued": self.outbox.writer.queued,
                "backpressure_waits": self.outbox.writer.waits,
                "backpressure_s": round(self.outbox.writer.waited_s, 3),
                "dead_letters": self.outbox.dead_letters(),
                "recovered": None if self.outbox.recovery is None else asdict(self.outbox.recovery),
            },
            "storage": self.storage(),
            "stalled": self.stalled(),
            "sinks": {name: self.sink_health(name) | s.view() for name, s in self.outbox.states.items()},
            "timing_ms": {stage: vars(stats) for stage, stats in self.timers.summary().items()},
            "belt_load": self.belt_states(),
            "capacity": self.capacity.state() if self.capacity else None,
            "inference": self.faults.state() if self.faults is not None else {},
            "site_loop": self.site_loop.state() if self.site_loop is not None else None,
            "promotion": self.promotions.state() if self.promotions is not None else None,
            "config": config,
        }


class DaemonCollector:
    """A Prometheus collector that reads the daemon's state on each scrape."""

    def __init__(self, view: DaemonView) -> None:
        self.view = view

    def collect(self) -> Iterator[Metric]:
        view = self.view
        labels = ["camera"]
        captured = CounterMetricFamily("adit_frames_captured", "Frames read from the camera", labels=labels)
        processed = CounterMetricFamily("adit_frames_processed", "Frames the model ran on", labels=labels)
        dropped = CounterMetricFamily(
            "adit_frames_dropped", "Frames replaced by a newer one before inference", labels=labels
        )
        reconnects = CounterMetricFamily("adit_reconnects", "Times the source was reopened", labels=labels)
        fps = GaugeMetricFamily("adit_fps", "Frames processed per second since start", labels=labels)
        condition = GaugeMetricFamily(
            "adit_camera_condition", "1 while a health condition is raised", labels=["camera", "condition"]
        )
        errors = CounterMetricFamily(
            "adit_camera_errors",
            "Frames whose rules, belt monitor or snapshot raised (their events lost; the camera watches on)",
            labels=labels,
        )
        uptime = max(time.monotonic() - view.started, 1e-9)
        for camera in view.cameras:
            state = camera.state()
            captured.add_metric([camera.name], state["captured"])
            processed.add_metric([camera.name], state["processed"])
            dropped.add_metric([camera.name], state["dropped"])
            reconnects.add_metric([camera.name], state["reconnects"])
            fps.add_metric([camera.name], state["processed"] / uptime)
            errors.add_metric([camera.name], state["errors"])
            for name in state["conditions"]:
                condition.add_metric([camera.name, name], 1.0)
        yield from (captured, processed, dropped, reconnects, fps, condition, errors)
        yield from _inference_metrics(view.faults)
        if view.capacity is not None:
            yield GaugeMetricFamily(
                "adit_over_capacity",
                "1 while cameras lose inference slots or get stale frames (box over capacity)",
                value=float(view.capacity.over),
            )
        yield from _machine_metrics(view.machines)
        depth = GaugeMetricFamily("adit_outbox_depth", "Events not yet delivered to a sink", labels=["sink"])
        delivered = CounterMetricFamily("adit_events_delivered", "Events delivered", labels=["sink"])
        failures = CounterMetricFamily("adit_delivery_failures", "Failed delivery attempts", labels=["sink"])
        dead = CounterMetricFamily(
            "adit_dead_letters", "Events a sink refused outbox.max_attempts times, set aside", labels=["sink"]
        )
        undelivered = GaugeMetricFamily(
            "adit_sink_undelivered_seconds", "Time a sink delivered nothing, events waiting", labels=["sink"]
        )
        for name, sink in view.outbox.states.items():
            depth.add_metric([name], view.outbox.depth(name))
            delivered.add_metric([name], sink.delivered)
            failures.add_metric([name], sink.failures)
            dead.add_metric([name], sink.dead_letters)
            undelivered.add_metric([name], view.outbox.undelivered_s(name))
        yield from (depth, delivered, failures, dead, undelivered)
        yield CounterMetricFamily(
            "adit_outbox_dropped", "Events dropped because the outbox was full", value=view.outbox.dropped
        )
        yield GaugeMetricFamily(
            "adit_outbox_held", "Events held in memory because the disk refused them", value=view.outbox.held
        )
        writer = view.outbox.writer
        yield GaugeMetricFamily(
            "adit_outbox_queued", "Events waiting for the outbox writer", value=writer.queued
        )
        yield CounterMetricFamily(
            "adit_outbox_backpressure_waits",
            "Times the inference or a machine thread waited because the outbox writer's queue was full",
            value=writer.waits,
        )
        yield CounterMetricFamily(
            "adit_outbox_backpressure_seconds",
            "Time producers waited for the outbox writer (a disk slower than the event rate)",
            value=writer.waited_s,
        )
        yield CounterMetricFamily(
            "adit_outbox_write_failures",
            "Outbox commits the disk refused (full, I/O error)",
            value=view.outbox.storage_failures,
        )
        yield CounterMetricFamily(
            "adit_snapshot_failures",
            "Snapshots not written (disk full, I/O error)",
            value=view.snapshots.failures if view.snapshots else 0,
        )
        stalled = GaugeMetricFamily(
            "adit_stage_stalled_seconds", "How long a hung stage has been busy", labels=["stage"]
        )
        for stage, seconds in view.stalled().items():
            stalled.add_metric([stage], seconds)
        yield stalled
        latency = HistogramMetricFamily(
            "adit_stage_latency_seconds",
            "Per-stage latency (frame_age: capture to inference)",
            labels=["stage"],
        )
        for stage in STAGES:
            cumulative, count, total_ms = view.timers.histogram(stage)
            if count:
                buckets = [(str(bound / 1000.0), n) for bound, n in zip(BUCKETS_MS, cumulative, strict=True)]
                latency.add_metric([stage], buckets + [("+Inf", count)], total_ms / 1000.0)
        yield latency
        yield from _belt_metrics(view.belt_states())


def _inference_metrics(faults: InferenceFaults | None) -> Iterator[Metric]:
    """Per camera: frames the model failed on (skipped), and whether inference_failing is raised."""
    failures = CounterMetricFamily(
        "adit_inference_failures", "Frames skipped because the model failed on them", labels=["camera"]
    )
    failing = GaugeMetricFamily(
        "adit_inference_failing", "1 while the inference_failing health event is open", labels=["camera"]
    )
    for camera, state in (faults.state() if faults is not None else {}).items():
        failures.add_metric([camera], state["failures"])
        failing.add_metric([camera], float(state["failing"]))
    yield from (failures, failing)


def _machine_metrics(machines: list[SignalMonitor]) -> Iterator[Metric]:
    """Per monitored machine: windows classified and skipped, the health index and its trend."""
    windows = CounterMetricFamily("adit_machine_windows", "Signal windows classified", labels=["machine"])
    invalid = CounterMetricFamily(
        "adit_machine_windows_invalid", "Windows skipped for NaN/inf samples or outputs", labels=["machine"]
    )
    failed = CounterMetricFamily(
        "adit_machine_inference_failures",
        "Windows skipped because the model failed on them",
        labels=["machine"],
    )
    errors = CounterMetricFamily(
        "adit_machine_errors",
        "Chunks of samples skipped because their rules or delivery raised (the machine watches on)",
        labels=["machine"],
    )
    beyond = CounterMetricFamily(
        "adit_machine_windows_out_of_range",
        "Windows skipped for samples beyond the sensor's range (machines[].max_abs)",
        labels=["machine"],
    )
    index = GaugeMetricFamily(
        "adit_machine_health_index", "Smoothed P(not normal): 0 healthy, 1 faulty", labels=["machine"]
    )
    trend = GaugeMetricFamily(
        "adit_machine_health_trend_per_hour",
        "Slope of the health index per hour of signal",
        labels=["machine"],
    )
    for machine in machines:
        state = machine.state()
        windows.add_metric([machine.config.name], state["windows"])
        invalid.add_metric([machine.config.name], state["invalid_windows"])
        beyond.add_metric([machine.config.name], state["out_of_range_windows"])
        failed.add_metric([machine.config.name], state["inference_failures"])
        errors.add_metric([machine.config.name], state["errors"])
        if state["health_index"] is not None:
            index.add_metric([machine.config.name], state["health_index"])
            trend.add_metric([machine.config.name], state["health_trend_per_h"])
    yield from (windows, invalid, beyond, failed, errors, index, trend)


def _belt_metrics(states: dict[str, dict[str, Any]]) -> Iterator[Metric]:
    """Gauges of the belt-load monitor: what it measured and what it recommends, per camera."""
    gauges = {
        "load": GaugeMetricFamily(
            "adit_belt_load", "Smoothed coal share of the belt region (0..1)", labels=["camera"]
        ),
        "raw_load": GaugeMetricFamily(
            "adit_belt_load_raw", "This frame's coal share of the belt region", labels=["camera"]
        ),
        "speed_mps": GaugeMetricFamily(
            "adit_belt_speed_recommended_mps", "Recommended belt speed (m/s)", labels=["camera"]
        ),
        "overloaded": GaugeMetricFamily(
            "adit_belt_overloaded", "1 while an overload event is open", labels=["camera"]
        ),
    }
    for camera, state in states.items():
        for key, gauge in gauges.items():
            gauge.add_metric([camera], float(state[key]))
    yield from gauges.values()
