"""Condition monitoring on the edge: sample windows -> bundle -> the same rules and sinks as cameras.

Each classified window becomes a ``Frame`` of the machine (its "camera" name) at the window's
end time, so the configured rules debounce fault classes exactly as they debounce camera
detections, and events go to the same sinks. Alongside, a health index (exponentially smoothed
probability of "not normal") and its trend (least-squares slope over the recent windows, per
hour) say whether a machine is degrading before a rule fires.

``python -m edge_runtime.signal_monitor --config configs/signal-site-demo.yaml [key=value ...]``
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from edge_runtime.bundle import load_bundle
from edge_runtime.config import RuleConfig, SinksConfig
from edge_runtime.errors import AditError
from edge_runtime.events import Event, Sink
from edge_runtime.logs import setup_logging
from edge_runtime.model import BundleModel
from edge_runtime.rules import Rule
from edge_runtime.signal import SignalError, Windower
from edge_runtime.signal_source import SampleChunk, replay_file, stream_tcp
from edge_runtime.sinks import build_sinks
from edge_runtime.sources import Frame
from edge_runtime.yamlconfig import load_config

_NO_IMAGE = np.zeros((1, 1, 3), np.uint8)


class HealthConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    normal_label: str = "normal"
    smoothing: float = Field(0.1, gt=0, le=1, description="EMA weight of the newest window")
    trend_windows: int = Field(50, ge=2, description="windows the trend slope is fitted over")


class SignalSiteConfig(BaseModel):
    """One monitored machine: where its samples come from, the bundle, rules and sinks."""

    model_config = ConfigDict(extra="forbid")

    machine: str = Field("pump-1", pattern=r"^[A-Za-z0-9_.-]+$")
    source: str = Field(description="a .npy/.csv file to replay, or tcp://host:port")
    realtime: bool = Field(True, description="files: pace the replay at the sampling rate")
    sampling_rate: float | None = Field(
        None, gt=0, description="the sensor's rate in Hz, checked against the bundle's (files carry none)"
    )
    bundle: Path
    artifact: str | None = None
    rules: list[RuleConfig] = Field(default_factory=list)
    sinks: SinksConfig = SinksConfig()
    health: HealthConfig = HealthConfig()
    health_log: Path | None = Field(None, description="JSONL of every window's prediction and health")


@dataclass(frozen=True)
class HealthReading:
    pts_s: float
    label: str
    score: float
    index: float  # smoothed P(not normal), 0 = healthy
    trend_per_h: float  # slope of the index, per hour of signal time


class HealthTracker:
    def __init__(self, config: HealthConfig, classes: list[str]) -> None:
        if config.normal_label not in classes:
            raise SignalError(f"health.normal_label {config.normal_label!r} is not a bundle class ({classes})")
        self._normal = classes.index(config.normal_label)
        self._alpha = config.smoothing
        self._index: float | None = None
        self._recent: deque[tuple[float, float]] = deque(maxlen=config.trend_windows)

    def update(self, pts_s: float, probabilities: np.ndarray) -> tuple[float, float]:
        fault = 1.0 - float(probabilities[self._normal])
        self._index = fault if self._index is None else self._alpha * fault + (1 - self._alpha) * self._index
        self._recent.append((pts_s, self._index))
        times, values = np.array(self._recent).T
        slope = float(np.polyfit(times, values, 1)[0]) * 3600 if len(self._recent) > 1 and np.ptp(times) > 0 else 0.0
        return self._index, slope


class SignalMonitor:
    """Windows a sample stream, classifies each window, and feeds rules, sinks and the health index."""

    def __init__(self, config: SignalSiteConfig, sinks: list[Sink] | None = None) -> None:
        bundle = load_bundle(config.bundle)
        if bundle.manifest.signal is None:
            raise SignalError(f"{config.bundle}: the bundle has no signal section (task {bundle.manifest.task!r})")
        self.config = config
        self.model = BundleModel(bundle, config.artifact)
        self.spec = bundle.manifest.signal
        if config.sampling_rate is not None and not np.isclose(config.sampling_rate, self.spec.sampling_rate):
            raise SignalError(
                f"sampling_rate: the sensor gives {config.sampling_rate:g} Hz but {config.bundle} was trained at "
                f"{self.spec.sampling_rate:g} Hz; resample the signal or use a bundle trained at that rate"
            )
        self.rules = [Rule(rule) for rule in config.rules]
        self.sinks = build_sinks(config.sinks) if sinks is None else sinks
        self.health = HealthTracker(config.health, bundle.manifest.classes)
        self.readings: list[HealthReading] = []
        self.events: list[Event] = []
        self._windower = Windower(self.spec)
        self._count = 0

    def process(self, chunk: SampleChunk) -> list[Event]:
        windows = list(self._windower.push(chunk.samples))
        if not windows:
            return []
        events: list[Event] = []
        predictions = self.model.classify(np.stack([w for _, w in windows]))
        for (end, _), prediction in zip(windows, predictions, strict=True):
            pts_s = round(end / self.spec.sampling_rate, 6)  # signal time of the window's last sample
            frame = Frame(camera=self.config.machine, index=self._count, ts=chunk.ts, pts_s=pts_s, image=_NO_IMAGE)
            self._count += 1
            index, trend = self.health.update(frame.pts_s, prediction.probabilities)
            self.readings.append(HealthReading(frame.pts_s, prediction.label, prediction.score, index, trend))
            for rule in self.rules:
                event = rule.update(frame, prediction)
                if event is not None:
                    events.append(_with_health(event, index, trend))
        self._deliver(events)
        return events

    def finish(self) -> list[Event]:
        last = self.readings[-1] if self.readings else None
        events = [_with_health(e, last.index, last.trend_per_h) if last else e for rule in self.rules for e in rule.close()]
        self._deliver(events)
        for sink in self.sinks:
            sink.close()
        if self.config.health_log is not None:
            self.config.health_log.parent.mkdir(parents=True, exist_ok=True)
            with self.config.health_log.open("w", encoding="utf-8") as handle:
                for reading in self.readings:
                    handle.write(json.dumps(reading.__dict__) + "\n")
        return events

    def _deliver(self, events: list[Event]) -> None:
        self.events.extend(events)
        for event in events:
            for sink in self.sinks:
                sink.deliver(event)

    def run(self, chunks: Iterable[SampleChunk]) -> list[Event]:
        for chunk in chunks:
            self.process(chunk)
        self.finish()
        return self.events


def _with_health(event: Event, index: float, trend: float) -> Event:
    extra = event.extra | {"health_index": round(index, 4), "health_trend_per_h": round(trend, 4)}
    return Event(**{**event.__dict__, "extra": extra})


def open_source(config: SignalSiteConfig, sampling_rate: float) -> Iterable[SampleChunk]:
    if config.source.startswith("tcp://"):
        host, _, port = config.source.removeprefix("tcp://").rpartition(":")
        if not port.isdigit():
            raise SignalError(f"{config.source}: expected tcp://host:port")
        return stream_tcp(host, int(port), sampling_rate)
    return replay_file(config.source, sampling_rate, realtime=config.realtime)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge_runtime.signal_monitor", description="Monitor a machine's vibration.")
    parser.add_argument("--config", required=True, help="YAML SignalSiteConfig")
    parser.add_argument("overrides", nargs="*", help="key=value overrides, e.g. source=run.npy realtime=false")
    args = parser.parse_args(argv)
    setup_logging()
    try:
        config = load_config(SignalSiteConfig, args.config, args.overrides)
        monitor = SignalMonitor(config)
        events = monitor.run(open_source(config, monitor.spec.sampling_rate))
        if not monitor.readings:
            raise SignalError(
                f"{config.source}: shorter than one window ({monitor.spec.window} samples, "
                f"{monitor.spec.window / monitor.spec.sampling_rate:g} s); nothing was classified"
            )
    except AditError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    last = monitor.readings[-1] if monitor.readings else None
    print(json.dumps({"windows": len(monitor.readings), "events": len(events),
                      "health_index": last and round(last.index, 4), "health_trend_per_h": last and round(last.trend_per_h, 4)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
