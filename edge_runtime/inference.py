"""The shared inference stage: frames in, the events they cause delivered to every sink.

``submit`` hands frames to the model (``BundleModel.start``: synchronous, or queued on an
OpenVINO infer request in throughput mode, returning at once); ``collect`` decodes what has
finished, in the order it was submitted (requests may finish out of order; a camera's rules must
see its frames in order), runs the rules and delivers the events, on the caller's thread (rules and
sinks are not thread-safe). ``process`` is both, for frames that must be done on return. Every
stage is timed into ``StageTimers``.

A frame the model fails on (the runtime raised, or its outputs could not be decoded) is finished without a
prediction, in its turn, so the batches behind it are collected as usual: with ``faults`` (the daemon) it is
counted and skipped, every later frame inferred as if nothing happened; without (replay), ``collect`` raises
``InferenceError`` naming the frame.

Likewise a frame whose rules step raises (a rule, the belt monitor): with ``rule_errors`` (the daemon) that
frame's events are lost (a raising rule's only: the other rules still see the frame), the error counted and
shown as the camera's (``rule_errors``), the later frames go on in order; without (replay) ``collect``
raises ``RulesError`` naming the camera and frame. A snapshot or the site loop (drift, hard examples,
shadow) raising is counted the same way, but the frame's rule events still go out (without the picture).
A camera's step counts as working again only after a frame has gone
through all of it, so a part that fails on every frame is logged as one run of failures.

A queued sink (the durable outbox) takes the events without waiting for the disk; capture-to-event
is then recorded when it says they are durable (committed and handed to the sinks), on its writer
thread, so the figure still covers the commit while the cameras no longer wait for it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from typing import Any

import numpy as np

from edge_runtime.backends import Outputs
from edge_runtime.beltload import BeltLoadMonitor
from edge_runtime.errors import ConfigError, InferenceError, RulesError
from edge_runtime.events import Event, QueuedSink, Sink
from edge_runtime.inference_faults import InferenceFaults
from edge_runtime.live import LatestFrames
from edge_runtime.model import BundleModel
from edge_runtime.postprocess import Prediction, Segmentation
from edge_runtime.rule_errors import RuleErrors
from edge_runtime.rules import RuleSet
from edge_runtime.siteloop.loop import SiteLoop
from edge_runtime.snapshots import SnapshotWriter, snapshot_url
from edge_runtime.sources import Frame
from edge_runtime.timing import LatencyStats, StageTimers

log = logging.getLogger(__name__)


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
    inference_failures: int = 0  # frames skipped because the model failed on them
    rule_errors: int = 0  # frames whose rules step raised (their events lost, or their snapshots)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Finished:
    sequence: int
    frames: Sequence[Frame]
    outputs: Outputs | None
    error: Exception | None = None  # set: the model failed on this batch


class Pipeline:
    """The shared inference stage of every camera."""

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
        on_age: Callable[[str, float], None] | None = None,
        finished: threading.Event | None = None,
        faults: InferenceFaults | None = None,
        rule_errors: RuleErrors | None = None,
    ) -> None:
        """``on_age(camera, ms)``: each frame's age when handed to the model (capacity monitoring);
        ``finished``: set whenever a batch finishes, so a waiting loop wakes to ``collect`` it;
        ``site_loop``: sees every frame's prediction and events after the rules (captures, drift, shadow);
        ``faults``: told of every frame's inference; None: a failed frame makes ``collect`` raise;
        ``rule_errors``: told of every frame's rules step; None: a step that raises makes ``collect`` raise.
        """
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
        self.inference_failures = 0
        self.faults = faults
        self.rule_errors = 0
        self._rule_errors = rule_errors
        self._step_failed: set[tuple[str, int]] = set()  # (camera, frame) whose step raised, this batch
        self.in_flight = 0  # batches started and not yet collected
        self._on_age = on_age
        self._finished_event = finished
        self._finished: queue.SimpleQueue[_Finished] = queue.SimpleQueue()
        self._submitted = 0
        self._waiting: dict[int, _Finished] = {}  # finished ahead of an earlier batch
        self._collected = 0

    @property
    def batch_limit(self) -> int | None:
        """Frames one request takes: 1 for detectors and in throughput mode (a request per frame)."""
        if self.model is None:
            return None
        return 1 if self.model.throughput else self.model.max_batch

    def can_start(self) -> bool:
        """The model takes a batch now without blocking (an idle infer request in throughput mode)."""
        return self.model is not None and self.model.idle()

    def submit(self, frames: Sequence[Frame]) -> None:
        """Start inference on ``frames`` (one batch); ``collect`` delivers its events once it has finished."""
        model = self.model
        if model is None:
            raise ConfigError("frames to classify but no camera model (a machines-only site)")
        sequence, self._submitted = self._submitted, self._submitted + 1
        self.in_flight += 1
        started = time.perf_counter()

        def done(outputs: Outputs) -> None:  # on the runtime's thread in throughput mode
            self.timers.record("infer", (time.perf_counter() - started) * 1000.0)
            self._finish(_Finished(sequence, frames, outputs))

        def failed(error: Exception) -> None:  # also on the runtime's thread
            self._finish(_Finished(sequence, frames, None, error))

        try:
            if all(frame.tensor is not None for frame in frames):  # prepared ahead, timed there
                batch = np.concatenate([frame.tensor for frame in frames])
            else:
                with self.timers.measure("preprocess"):
                    batch = model.prepare([frame.image for frame in frames])
            started, now = time.perf_counter(), time.time()
            for frame in frames:
                age_ms = (now - frame.ts) * 1000.0
                self.timers.record("frame_age", age_ms)
                if self._on_age is not None:
                    self._on_age(frame.camera, age_ms)
            model.start(batch, done, failed)
        except Exception as exc:  # noqa: BLE001 - a backend that raised instead of failing the batch
            failed(exc)

    def _finish(self, finished: _Finished) -> None:
        self._finished.put(finished)
        if self._finished_event is not None:
            self._finished_event.set()

    def collect(self) -> list[Event]:
        """Decode the finished batches in submission order, run the rules, deliver (and return) the events."""
        while not self._finished.empty():
            finished = self._finished.get_nowait()
            if finished.sequence >= self._collected:  # the first word on a batch wins (done, then failed)
                self._waiting.setdefault(finished.sequence, finished)
        events: list[Event] = []
        while self._collected in self._waiting:
            finished = self._waiting.pop(self._collected)
            self._collected += 1
            self.in_flight -= 1
            events += self._complete(finished)
        return events

    def process(self, frames: Sequence[Frame]) -> list[Event]:
        """Infer ``frames`` (in batches the model takes) and deliver their events before returning."""
        step = self.batch_limit or len(frames)
        for first in range(0, len(frames), step):
            self.submit(frames[first : first + step])
        self.wait()
        return self.collect()

    def wait(self) -> None:
        """Every submitted batch finished or failed (ready to ``collect``)."""
        if self.model is not None:
            self.model.wait()

    def _complete(self, finished: _Finished) -> list[Event]:
        if self.model is None:
            raise ConfigError("frames to classify but no camera model (a machines-only site)")
        frames, error = finished.frames, finished.error
        if finished.outputs is not None:
            try:  # outputs the decoder cannot take (a corrupted tensor) fail the frame like a runtime error
                with self.timers.measure("postprocess"):
                    predictions = self.model.postprocess(
                        finished.outputs, [frame.image.shape[:2] for frame in frames]
                    )
            except Exception as exc:  # noqa: BLE001
                error = exc
        if error is not None:
            self._failed(frames, error)
            return []
        if self.faults is not None:
            for frame in frames:
                self.faults.succeeded(frame.camera, frame.index)
        if self.live is not None:
            for frame, prediction in zip(frames, predictions, strict=True):
                self.live.publish(frame, prediction)
        with self.timers.measure("rules"):
            caused = [self._rules(f, p) for f, p in zip(frames, predictions, strict=True)]
        if self.snapshots is not None:
            caused = [
                [self._snapshot(f, p, e) for e in group]
                for f, p, group in zip(frames, predictions, caused, strict=True)
            ]
        self.frames += len(frames)
        events = [event for group in caused for event in group]
        self.deliver(events, [frame.ts for frame, group in zip(frames, caused, strict=True) if group])
        if (site_loop := self.site_loop) is not None:  # after the rules' events: never in their latency
            with self.timers.measure("site_loop"):
                drift = [
                    event
                    for frame, prediction, group in zip(frames, predictions, caused, strict=True)
                    for event in self._observe(site_loop, frame, prediction, group)
                ]
            self.deliver(drift)
            events += drift
        self._steps_done(frames)
        return events

    def _failed(self, frames: Sequence[Frame], error: Exception) -> None:
        self.inference_failures += len(frames)
        if self.faults is None:
            first = frames[0]
            raise InferenceError(
                f"{first.camera}: frame {first.index}: inference failed ({type(error).__name__}: {error})"
            ) from error
        for frame in frames:
            self.faults.failed(frame.camera, frame.index, error)

    def _rules(self, frame: Frame, prediction: Prediction) -> list[Event]:
        """The events ``frame`` causes: a raising rule loses its own, a raising belt monitor the frame's."""

        def rule_raised(rule: str, error: Exception) -> None:  # the other rules still see the frame
            self._step_raised(frame, error, f"rule {rule!r}")

        try:
            return self.rules.evaluate(frame, prediction, rule_raised) + self._belt(frame, prediction)
        except RulesError:  # replay: stop at the frame, as ``_step_raised`` says
            raise
        except Exception as exc:  # noqa: BLE001 - one frame's rules must not end every camera's watch
            self._step_raised(frame, exc, "rules")
            return []

    def _observe(
        self, site_loop: SiteLoop, frame: Frame, prediction: Prediction, caused: Sequence[Event]
    ) -> list[Event]:
        """The site loop's events for ``frame``; a site loop that raises fails only this frame's step."""
        try:
            return site_loop.observe([frame], [prediction], [caused])
        except Exception as exc:  # noqa: BLE001 - drift or a capture must not end every camera's watch
            self._step_raised(frame, exc, "site loop")
            return []

    def _step_raised(self, frame: Frame, error: Exception, part: str) -> None:
        self.rule_errors += 1
        if self._rule_errors is None:
            raise RulesError(
                f"{frame.camera}: frame {frame.index}: the {part} failed ({type(error).__name__}: {error})"
            ) from error
        self._step_failed.add((frame.camera, frame.index))
        self._rule_errors.failed(frame.camera, frame.index, error, part)

    def _steps_done(self, frames: Sequence[Frame]) -> None:
        """Each camera whose frame went through the whole step without raising works again."""
        if self._rule_errors is not None:
            for frame in frames:
                if (frame.camera, frame.index) not in self._step_failed:
                    self._rule_errors.succeeded(frame.camera)
        self._step_failed.clear()

    def _belt(self, frame: Frame, prediction: Prediction) -> list[Event]:
        belt = self.belt
        if belt is None or not belt.config.watches(frame.camera) or not isinstance(prediction, Segmentation):
            return []
        return belt.update(frame, prediction)

    def _snapshot(self, frame: Frame, prediction: Prediction, event: Event) -> Event:
        if event.phase != "start" or self.snapshots is None:
            return event
        try:
            name = self.snapshots.write(frame, event, prediction)
        except Exception as exc:  # noqa: BLE001 - a snapshot is a convenience: its event still goes out
            self._step_raised(frame, exc, "snapshot")
            return event
        if name is None:
            return event
        return replace(event, extra={**event.extra, "snapshot": snapshot_url(name)})

    def finish(self) -> list[Event]:
        """End the events still open (the sources ended or the daemon stops) and deliver the ends."""
        self.wait()
        collected = self.collect()  # the frames still in flight, delivered there
        ends = self.rules.close() + (self.belt.close() if self.belt is not None else [])
        ends += self.site_loop.close() if self.site_loop is not None else []
        self.deliver(ends)
        return collected + ends

    def deliver(self, events: Sequence[Event], captured: Sequence[float] = ()) -> None:
        """Hand ``events`` to every sink; ``captured``: the capture times of the frames that caused them,
        timed to the moment the events are durable (a queued sink's ``on_durable``) or delivered."""
        if not events:
            return
        self.events += len(events)

        def raised() -> None:  # on the outbox's writer thread when a sink is queued
            now = time.time()
            for ts in captured:
                self.timers.record("capture_to_event", (now - ts) * 1000.0)

        queued = False
        with self.timers.measure("delivery"):
            for sink in self.sinks:
                if isinstance(sink, QueuedSink):
                    queued = True
                    self._guarded(sink, events, partial(sink.submit, events, raised))
                else:
                    for event in events:
                        self._guarded(sink, [event], partial(sink.deliver, event))
        if not queued:
            raised()

    def _guarded(self, sink: Sink, events: Sequence[Event], hand_over: Callable[[], None]) -> None:
        try:
            hand_over()
        except Exception:  # noqa: BLE001 - one broken sink must not stop the others or inference
            log.exception("sink %s failed to deliver event(s) %s", sink.name, ", ".join(e.id for e in events))
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
            inference_failures=self.inference_failures,
            rule_errors=self.rule_errors,
        )
