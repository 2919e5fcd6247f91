"""What a running daemon says about itself: /healthz, /metrics (Prometheus) and /status (JSON).

Everything is read on request from the live objects (capture threads, health monitors, outbox,
stage timers), so the hot path pays nothing for observation. The server is stdlib ``http.server``
on its own thread, bound to 127.0.0.1 by default. Configuration shown in /status has its secrets
redacted by pydantic (``SecretStr``) and URLs stripped of passwords.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from edge_runtime.config import HttpConfig, SiteConfig
from edge_runtime.errors import ConfigError
from edge_runtime.health import CameraHealth
from edge_runtime.outbox import Outbox
from edge_runtime.signal_monitor import SignalMonitor
from edge_runtime.sources import CaptureThread, redact_url
from edge_runtime.timing import BUCKETS_MS, STAGES, StageTimers

log = logging.getLogger(__name__)


@dataclass
class CameraView:
    name: str
    capture: CaptureThread
    health: CameraHealth | None

    def state(self) -> dict[str, Any]:
        source = self.capture.source
        stats = self.capture.stats
        return {
            "connected": getattr(source, "connected", not self.capture.exhausted),
            "ended": self.capture.exhausted,
            "reconnects": getattr(source, "reconnects", 0),
            "captured": stats.captured,
            "processed": stats.delivered,
            "dropped": stats.dropped,
            "conditions": self.health.active if self.health else [],
            "measures": dict(self.health.measures) if self.health else {},
        }


@dataclass
class DaemonView:
    """The live objects of one run, read by the HTTP handlers."""

    config: SiteConfig
    artifact: str
    cameras: list[CameraView]
    outbox: Outbox
    timers: StageTimers
    started: float
    machines: list[SignalMonitor] = field(default_factory=list)

    def healthz(self) -> tuple[bool, dict[str, Any]]:
        """Healthy when every camera delivers (or has ended) with no raised condition and every sink works."""
        cameras = {}
        for camera in self.cameras:
            state = camera.state()
            ok = (state["connected"] or state["ended"]) and not state["conditions"]
            cameras[camera.name] = {"ok": ok, "conditions": state["conditions"]}
        sinks = {
            name: {"ok": sink.healthy, "pending": self.outbox.depth(name), "last_error": sink.last_error}
            for name, sink in self.outbox.states.items()
        }
        machines = {m.config.name: {"ok": m.error is None, "error": m.error} for m in self.machines}
        ok = all(part["ok"] for group in (cameras, machines, sinks) for part in group.values())
        return ok, {"ok": ok, "cameras": cameras, "machines": machines, "sinks": sinks}

    def status(self) -> dict[str, Any]:
        config = self.config.model_dump(mode="json")  # SecretStr fields dump as "**********"
        for camera in config["cameras"]:
            camera["source"] = redact_url(camera["source"])
        return {
            "uptime_s": round(time.monotonic() - self.started, 1),
            "artifact": self.artifact,
            "cameras": {camera.name: camera.state() for camera in self.cameras},
            "machines": {machine.config.name: machine.state() for machine in self.machines},
            "outbox": {"depth": self.outbox.depth(), "dropped": self.outbox.dropped},
            "sinks": {name: vars(state) for name, state in self.outbox.states.items()},
            "timing_ms": {stage: vars(stats) for stage, stats in self.timers.summary().items()},
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
        uptime = max(time.monotonic() - view.started, 1e-9)
        for camera in view.cameras:
            state = camera.state()
            captured.add_metric([camera.name], state["captured"])
            processed.add_metric([camera.name], state["processed"])
            dropped.add_metric([camera.name], state["dropped"])
            reconnects.add_metric([camera.name], state["reconnects"])
            fps.add_metric([camera.name], state["processed"] / uptime)
            for name in state["conditions"]:
                condition.add_metric([camera.name, name], 1.0)
        yield from (captured, processed, dropped, reconnects, fps, condition)
        yield from _machine_metrics(view.machines)
        depth = GaugeMetricFamily("adit_outbox_depth", "Events not yet delivered to a sink", labels=["sink"])
        delivered = CounterMetricFamily("adit_events_delivered", "Events delivered", labels=["sink"])
        failures = CounterMetricFamily("adit_delivery_failures", "Failed delivery attempts", labels=["sink"])
        for name, sink in view.outbox.states.items():
            depth.add_metric([name], view.outbox.depth(name))
            delivered.add_metric([name], sink.delivered)
            failures.add_metric([name], sink.failures)
        yield from (depth, delivered, failures)
        yield CounterMetricFamily(
            "adit_outbox_dropped", "Events dropped because the outbox was full", value=view.outbox.dropped
        )
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


def _machine_metrics(machines: list[SignalMonitor]) -> Iterator[Metric]:
    """Per monitored machine: windows classified and skipped, the health index and its trend."""
    windows = CounterMetricFamily("adit_machine_windows", "Signal windows classified", labels=["machine"])
    invalid = CounterMetricFamily(
        "adit_machine_windows_invalid", "Windows skipped for NaN/inf samples", labels=["machine"]
    )
    index = GaugeMetricFamily(
        "adit_machine_health_index", "Smoothed P(not normal): 0 healthy, 1 faulty", labels=["machine"]
    )
    trend = GaugeMetricFamily(
        "adit_machine_health_trend_per_hour", "Slope of the health index per hour of signal", labels=["machine"]
    )
    for machine in machines:
        state = machine.state()
        windows.add_metric([machine.config.name], state["windows"])
        invalid.add_metric([machine.config.name], state["invalid_windows"])
        if state["health_index"] is not None:
            index.add_metric([machine.config.name], state["health_index"])
            trend.add_metric([machine.config.name], state["health_trend_per_h"])
    yield from (windows, invalid, index, trend)


class ObserveServer:
    """The HTTP endpoint on its own thread; ``close`` stops it."""

    def __init__(self, config: HttpConfig, view: DaemonView) -> None:
        registry = CollectorRegistry()
        registry.register(DaemonCollector(view))
        handler = _handler(view, registry)
        try:
            self._server = ThreadingHTTPServer((config.host, config.port), handler)
        except OSError as exc:
            raise ConfigError(f"http: cannot listen on {config.host}:{config.port} ({exc.strerror})") from exc
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="http", daemon=True)
        self._thread.start()
        log.info("observing on http://%s:%d (/healthz /metrics /status)", config.host, self.port)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5.0)


def _handler(view: DaemonView, registry: CollectorRegistry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                ok, body = view.healthz()
                self._send(200 if ok else 503, "application/json", json.dumps(body).encode())
            elif path == "/metrics":
                self._send(200, CONTENT_TYPE_LATEST, generate_latest(registry))
            elif path == "/status":
                self._send(200, "application/json", json.dumps(view.status(), indent=2).encode())
            else:
                self._send(404, "text/plain", b"try /healthz, /metrics or /status\n")

        def _send(self, code: int, content_type: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("http: " + format, *args)

    return Handler
