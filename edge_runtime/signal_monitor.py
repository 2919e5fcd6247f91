"""Condition monitoring: a machine's sample windows -> its signal bundle -> the site's rules.

Each classified window becomes a ``Frame`` of the machine (its "camera" name) at the window's
end time, so the configured rules debounce fault classes exactly as they debounce camera
detections, and events go where the caller sends them: the daemon's durable outbox
(``machine_thread.MachineThread``), or a replay's sinks. Alongside, a health index (exponentially smoothed
probability of "not normal") and its trend (least-squares slope over the recent windows, per
hour) say whether a machine is degrading before a rule fires.

``python -m edge_runtime.signal_monitor --config SITE.yaml [--machine NAME] [--out events.jsonl]
[--health-log health.jsonl] [key=value ...]`` replays a site's machines deterministically, as
``python -m edge_runtime replay`` does for a camera; ``python -m edge_runtime run`` runs them live.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.bundle import load_bundle
from edge_runtime.config import SiteConfig, load_site_config
from edge_runtime.config.machines import MachineConfig, MachineHealthConfig
from edge_runtime.config.rules import RuleConfig
from edge_runtime.errors import AditError, InferenceError, RulesError
from edge_runtime.events import Event, JsonlSink, Sink
from edge_runtime.inference_faults import InferenceFaults
from edge_runtime.jsonsafe import dumps
from edge_runtime.logs import setup_logging
from edge_runtime.model import BundleModel, load_model
from edge_runtime.rules import RuleSet
from edge_runtime.signal import NEEDS_RPM, SignalError, SignalSpec, Windower, with_rpm
from edge_runtime.signal_source import SampleChunk, check_rate, load_recording, open_samples, read_rpm
from edge_runtime.siteloop.signal_windows import EventWindows
from edge_runtime.sources import Frame

log = logging.getLogger(__name__)

_NO_IMAGE = np.zeros((1, 1, 3), np.uint8)


@dataclass(frozen=True)
class HealthReading:
    pts_s: float
    label: str
    score: float
    index: float  # smoothed P(not normal), 0 = healthy
    trend_per_h: float  # slope of the index, per hour of signal time


class HealthTracker:
    def __init__(self, config: MachineHealthConfig, classes: list[str]) -> None:
        self._normal = classes.index(config.normal_label)
        self._alpha = config.smoothing
        self._index: float | None = None
        self._recent: deque[tuple[float, float]] = deque(maxlen=config.trend_windows)

    def update(self, pts_s: float, probabilities: np.ndarray) -> tuple[float, float]:
        fault = 1.0 - float(probabilities[self._normal])
        if not np.isfinite(fault):  # the caller skips such windows; a NaN here would stick to the EMA
            return self._index or 0.0, 0.0
        self._index = fault if self._index is None else self._alpha * fault + (1 - self._alpha) * self._index
        self._recent.append((pts_s, self._index))
        times, values = np.array(self._recent).T
        fitted = len(self._recent) > 1 and np.ptp(times) > 0
        slope = float(np.polyfit(times, values, 1)[0]) * 3600 if fitted else 0.0
        return self._index, slope


def verify_machine(machine: MachineConfig, index: int) -> BundleModel:
    """Start-up checks of ``machines[index]``: a signal bundle, its artifact and classes, the source's rate
    and file. Returns the model as the check compiled it, for the ``SignalMonitor`` to run (compiled once)."""
    where = f"machines[{index}] ({machine.name})"
    bundle = load_bundle(machine.bundle)
    spec = bundle.manifest.signal
    if spec is None:
        raise SignalError(
            f"{where}.bundle: {bundle.root} has no signal section (task {bundle.manifest.task!r})"
        )
    # the model against its manifest, loaded as the monitor runs it
    model = load_model(bundle, machine.artifact, precision=machine.precision, threads=machine.threads)
    if machine.health.normal_label not in bundle.manifest.classes:
        raise SignalError(
            f"{where}.health.normal_label: {machine.health.normal_label!r} is not a class of {bundle.root} "
            f"({', '.join(bundle.manifest.classes)})"
        )
    check_rate(f"{where}.source {machine.source}", machine.sampling_rate, spec)
    if not machine.source.startswith("tcp://"):
        load_recording(machine.source, spec)  # a bad file stops the start, before any event
    if spec.representation in NEEDS_RPM and machine.rpm is None and read_rpm(machine.source) is None:
        raise SignalError(
            f"{where}: {bundle.root} classifies {spec.representation} (shaft orders) and needs the shaft "
            f"speed, but the source {machine.source} has no rpm column; set machines[{index}].rpm "
            "(the machine's rpm) or record an rpm column in the source"
        )
    return model


class _SpeedWindower:
    """The shaft speed of each window, beside the samples' ``Windower``: the source's rpm column
    averaged over the window, else the machine's configured rpm."""

    def __init__(self, spec: SignalSpec, config: MachineConfig) -> None:
        self.config = config
        self._windower = Windower(spec)

    def push(self, chunk: SampleChunk, count: int) -> list[float]:
        if chunk.rpm is None:
            if self.config.rpm is None:
                raise SignalError(
                    f"{self.config.name}: the bundle needs the shaft speed; the source sent no rpm and "
                    "the machine has no rpm setting"
                )
            return [self.config.rpm] * count
        return [float(w.mean()) for _, w in self._windower.push(chunk.rpm)]


class SignalMonitor:
    """One machine: windows a sample stream, classifies each window, feeds its rules and health index.

    ``emit`` receives the events each call causes; calls are serialised, so the daemon may end the
    monitor from its main thread while the machine's thread is still between chunks.
    """

    def __init__(
        self,
        config: MachineConfig,
        model: BundleModel,
        rules: Sequence[RuleConfig],
        emit: Callable[[Sequence[Event]], None],
        *,
        observe: Callable[[HealthReading], None] | None = None,
        windows: EventWindows | None = None,
        faults: InferenceFaults | None = None,
    ) -> None:
        """``faults``: told of every window's inference (the daemon); None: a failed one raises (replay)."""
        self.config = config
        self.faults = faults
        self.infer_failures = 0  # windows skipped because the model raised on them
        self.kept = windows  # each event's starting window, for operator feedback
        manifest = model.manifest
        if manifest.signal is None:
            raise SignalError(f"{config.name}: {model.name} has no signal section (task {manifest.task!r})")
        self.spec = manifest.signal
        self.model = model  # verify_machine's: compiled once, by the check
        self.rules = RuleSet(rules)
        self.health = HealthTracker(config.health, manifest.classes)
        self.windows = 0
        self.invalid = 0  # windows skipped for NaN/inf samples (a stream's sensor dropout) or outputs
        self.out_of_range = 0  # windows skipped for samples beyond max_abs
        self._warned = False
        self.events = 0
        self.last: HealthReading | None = None
        self.error: str | None = None  # the source's or the last chunk's (the daemon's thread sets both)
        self.errors = 0  # chunks whose rules or delivery raised (or the source, unexpectedly): skipped
        self.last_error: str | None = None  # the last of those, kept once the machine works again
        self.ended = False
        self._emit, self._observe = emit, observe
        self._lock = threading.Lock()
        self._windower = Windower(self.spec)
        self._speeds = _SpeedWindower(self.spec, config) if self.spec.representation in NEEDS_RPM else None
        self._offset = 0  # samples of earlier connections, so signal time never runs backwards
        self._seen = 0

    def process(self, chunk: SampleChunk) -> list[Event]:
        with self._lock:
            if self.ended:
                return []
            self._seen += len(chunk.samples)
            windows = [(self._offset + end, w) for end, w in self._windower.push(chunk.samples)]
            if self._speeds is not None:
                speeds = self._speeds.push(chunk, len(windows))
                windows = [
                    (end, with_rpm(w[None], rpm)[0]) for (end, w), rpm in zip(windows, speeds, strict=True)
                ]
            valid = self._usable(windows)
            if not valid:
                return []
            events: list[Event] = []
            failed: list[
                tuple[str, int, Exception]
            ] = []  # (rule, window, error): the chunk raises at its end
            try:  # one failed batch of windows must not end the machine's monitoring (MachineThread)
                predictions = self.model.classify(np.stack([w for _, w in valid]))
            except Exception as exc:  # noqa: BLE001
                self._failed(len(valid), exc)
                return []
            for (end, window), prediction in zip(valid, predictions, strict=True):
                if not np.isfinite(prediction.probabilities).all():  # never let a NaN into the index
                    self.invalid += 1
                    continue
                pts_s = round(end / self.spec.sampling_rate, 6)  # signal time of the window's last sample
                frame = Frame(
                    camera=self.config.name, index=self.windows, ts=chunk.ts, pts_s=pts_s, image=_NO_IMAGE
                )
                if self.faults is not None:
                    self.faults.succeeded(self.config.name, self.windows)
                self.windows += 1
                index, trend = self.health.update(pts_s, prediction.probabilities)
                self.last = HealthReading(pts_s, prediction.label, prediction.score, index, trend)
                if self._observe is not None:
                    self._observe(self.last)

                def rule_failed(rule: str, error: Exception, at: int = frame.index) -> None:
                    failed.append((rule, at, error))  # the other rules still see the window

                raised = [
                    _with_health(e, self.last) for e in self.rules.evaluate(frame, prediction, rule_failed)
                ]
                if self.kept is not None:
                    for event in raised:
                        self.kept.keep(event, window, self.spec.window)
                self._send(raised)  # each window's at once: a later window that raises cannot take them along
                events += raised
            if failed:  # every window and every other rule went through; the machine shows the failure
                rule, at, error = failed[0]
                raise RulesError(
                    f"{self.config.name}: the rule {rule!r} failed on window {at} ({type(error).__name__}: "
                    f"{error}); {len(failed)} rule run(s) of this chunk failed, the other rules' events went out"
                ) from error
            return events

    def _failed(self, count: int, error: Exception) -> None:
        self.infer_failures += count
        if self.faults is None:
            raise InferenceError(
                f"{self.config.name}: window {self.windows}: inference failed ({error})"
            ) from error
        for _ in range(count):
            self.faults.failed(self.config.name, self.windows, error)

    def _usable(self, windows: list[tuple[int, np.ndarray]]) -> list[tuple[int, np.ndarray]]:
        """The windows a sensor could have measured; the rest are counted and skipped.

        NaN/inf is a sensor dropout; a sample beyond ``max_abs`` a wiring fault or a garbled stream
        (one huge finite value made the spectrogram overflow and the health index NaN for good).
        """
        usable = []
        for end, window in windows:
            if not np.isfinite(window).all():
                self.invalid += 1
            elif np.abs(window[: self.spec.window]).max() > self.config.max_abs:  # the rpm is no sample
                self.out_of_range += 1
            else:
                usable.append((end, window))
        if len(usable) < len(windows) and not self._warned:
            self._warned = True
            log.warning(
                "%s: windows with NaN/inf samples or samples beyond +-%g are skipped (counted in /metrics)",
                self.config.name,
                self.config.max_abs,
            )
        return usable

    def restart(self) -> None:
        """A new connection: windows never straddle the gap, signal time continues."""
        with self._lock:
            self._windower = Windower(self.spec)
            if self._speeds is not None:
                self._speeds = _SpeedWindower(self.spec, self.config)
            self._offset = self._seen

    def finish(self) -> list[Event]:
        """End the open events (the source ended or the daemon stops); later chunks are ignored."""
        with self._lock:
            if self.ended:
                return []
            self.ended = True
            events = [_with_health(e, self.last) for e in self.rules.close()]
            self._send(events)
            return events

    def state(self) -> dict[str, Any]:
        """What /status shows and /metrics exports."""
        last = self.last
        return {
            "source": self.config.source,
            "ended": self.ended,
            "error": self.error,
            "windows": self.windows,
            "invalid_windows": self.invalid,
            "out_of_range_windows": self.out_of_range,
            "inference_failures": self.infer_failures,
            "inference_failing": self.faults is not None and self.config.name in self.faults.failing,
            "errors": self.errors,
            "last_error": self.last_error,
            "events": self.events,
            "label": last and last.label,
            "health_index": last and round(last.index, 4),
            "health_trend_per_h": last and round(last.trend_per_h, 4),
        }

    def _send(self, events: list[Event]) -> None:
        if events:
            self.events += len(events)
            self._emit(events)


def _with_health(event: Event, reading: HealthReading | None) -> Event:
    """A rule's event on a machine: kind ``machine``, with the health index when there is one."""
    if reading is None:
        return replace(event, kind="machine")
    extra = {"health_index": round(reading.index, 4), "health_trend_per_h": round(reading.trend_per_h, 4)}
    return replace(event, kind="machine", extra=event.extra | extra)


def replay_machine(
    machine: MachineConfig,
    rules: Sequence[RuleConfig],
    sinks: Sequence[Sink] = (),
    *,
    observe: Callable[[HealthReading], None] | None = None,
    index: int = 0,
) -> tuple[SignalMonitor, list[Event]]:
    """Every window of a machine's source on the caller's thread, as fast as the CPU allows."""
    events: list[Event] = []

    def deliver(batch: Sequence[Event]) -> None:
        events.extend(batch)
        for event in batch:
            for sink in sinks:
                sink.deliver(event)

    monitor = SignalMonitor(machine, verify_machine(machine, index), rules, deliver, observe=observe)
    for chunk in open_samples(machine.source, monitor.spec, realtime=False):
        monitor.process(chunk)
    monitor.finish()
    return monitor, events


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m edge_runtime.signal_monitor", description="Replay a site's monitored machines."
    )
    parser.add_argument("--config", type=Path, required=True, help="site YAML with a machines section")
    parser.add_argument("--machine", help="replay only this machine")
    parser.add_argument("--out", type=Path, help="write the events to this JSONL file (replaced)")
    parser.add_argument("--health-log", type=Path, help="JSONL of every window's prediction and health index")
    parser.add_argument("overrides", nargs="*", help="key=value, e.g. machines.0.source=run.npy")
    args = parser.parse_args(argv)
    setup_logging()
    try:
        config = load_site_config(args.config, args.overrides)
        return _replay(config, args)
    except AditError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _replay(config: SiteConfig, args: argparse.Namespace) -> int:
    chosen = [(i, m) for i, m in enumerate(config.machines) if args.machine in (None, m.name)]
    if not chosen:
        names = ", ".join(m.name for m in config.machines) or "none"
        wanted = f"no machine {args.machine!r}" if args.machine else "no machines section"
        raise SignalError(f"{args.config}: {wanted} (machines: {names})")
    readings: list[dict[str, Any]] = []
    sinks: list[Sink] = []
    if args.out:
        args.out.unlink(missing_ok=True)  # a replay's output is its own, not appended to an older one
        sinks.append(JsonlSink(args.out))
    summary = {}
    try:
        for index, machine in chosen:

            def observe(reading: HealthReading, name: str = machine.name) -> None:
                readings.append({"machine": name, **asdict(reading)})

            monitor, _ = replay_machine(machine, config.rules, sinks, index=index, observe=observe)
            summary[machine.name] = monitor.state()
    finally:
        for sink in sinks:
            sink.close()
    if args.health_log:
        args.health_log.parent.mkdir(parents=True, exist_ok=True)
        args.health_log.write_text("".join(dumps(r) + "\n" for r in readings), encoding="utf-8")
    print(dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
