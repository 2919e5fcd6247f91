"""Rules turn a stream of per-frame predictions into events.

A single frame's prediction flickers (motion blur, dust, a belt seam), so a rule starts an event
only when ``hits`` of the last ``window`` frames match, ends it when no frame of a full window
matched, and then re-arms. The cool-down suppresses a new start within ``cooldown_s`` of the
previous one, measured in the frames' ``pts_s`` (video time), never wall time, so a replay gives the
same events however fast it runs. Each rule keeps its state per camera.

What "matches" depends on the task: a classification's top class (the whole frame); a detection
whose class, score, box area and bottom-centre (inside the rule's polygon zone) pass; a
segmentation class covering at least ``min_area`` of the frame. ``dwell_s`` holds a start back
until the hits have lasted that long ("a person in the danger zone for 1 s").
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

from edge_runtime.config.rules import RuleConfig
from edge_runtime.events import Event, Phase, duration, utc_iso
from edge_runtime.postprocess import Classification, Detections, Prediction, Segmentation
from edge_runtime.sources import Frame
from edge_runtime.tripwire import Tripwire


class _Moment(NamedTuple):
    """Where an event happens: the frame's number, video time and wall-clock capture time."""

    frame: int
    pts_s: float
    ts: float


_NOT_SEEN = _Moment(0, 0.0, 0.0)


class Hit(NamedTuple):
    """What matched a rule in one frame: the best label and its score."""

    label: str
    score: float


@dataclass
class _CameraState:
    history: deque[Hit | None]  # the matching hit, or None, for the last `window` frames
    dwell_since: float | None = None  # video time the current run of hits began
    last_report_pts_s: float = 0.0  # video time of the start or the last update
    open_event: Event | None = None
    peak_score: float = 0.0
    last_start_pts_s: float | None = None
    last_seen: _Moment = _NOT_SEEN


class Rule:
    """One configured rule: label filter, score threshold, N-of-M debounce and cool-down."""

    def __init__(self, config: RuleConfig) -> None:
        self.config = config
        self._labels = frozenset(config.labels)
        self._zone = (
            None if config.zone is None else np.asarray(config.zone, dtype=np.float32).reshape(-1, 1, 2)
        )
        self._states: dict[str, _CameraState] = {}
        wire = config.tripwire
        self._tripwire = None if wire is None else Tripwire(wire.line, wire.direction, wire.max_jump)

    def match(self, prediction: Prediction, camera: str = "") -> Hit | None:
        """The best label of ``prediction`` that passes the class, score, area and zone filters."""
        config = self.config
        if isinstance(prediction, Classification):
            ok = prediction.label in self._labels and prediction.score >= config.min_score
            return Hit(prediction.label, prediction.score) if ok else None
        if isinstance(prediction, Segmentation):
            hits = [Hit(label, prediction.fractions.get(label, 0.0)) for label in config.labels]
            hits = [hit for hit in hits if hit.score >= max(config.min_area, 1e-9)]
        elif isinstance(prediction, Detections):
            objects = prediction.objects
            if self._tripwire is not None:
                objects = self._tripwire.crossed(camera, [d for d in objects if d.label in self._labels])
            hits = [
                Hit(d.label, d.score)
                for d in objects
                if d.label in self._labels
                and d.score >= config.min_score
                and d.area >= config.min_area
                and (self._zone is None or cv2.pointPolygonTest(self._zone, d.bottom_centre, False) >= 0)
            ]
        else:
            raise TypeError(f"rule {config.name}: cannot match a {type(prediction).__name__}")
        return max(hits, key=lambda hit: hit.score, default=None)

    def update(self, frame: Frame, prediction: Prediction) -> Event | None:
        """Feed one frame's prediction; return the event it starts or ends, if any."""
        debounce = self.config.debounce
        state = self._states.setdefault(frame.camera, _CameraState(deque(maxlen=debounce.window)))
        hit = self.match(prediction, frame.camera)
        state.history.append(hit)
        if not any(state.history):
            state.dwell_since = None
        elif state.dwell_since is None:
            state.dwell_since = frame.pts_s
        state.last_seen = _Moment(frame.index, frame.pts_s, frame.ts)
        start = state.open_event
        if start is None:
            return self._maybe_start(state, frame)
        state.peak_score = max(state.peak_score, hit.score if hit else 0.0)
        if len(state.history) == debounce.window and not any(state.history):
            return self._end(state, start, reason="absent")
        every = self.config.update_every_s
        if every is not None and frame.pts_s - state.last_report_pts_s >= every:
            state.last_report_pts_s = frame.pts_s
            extra = {"start_id": start.id, "duration_s": duration(start.pts_s, frame.pts_s)}
            return self._event(start.camera, "update", start.label, state.peak_score, state.last_seen, extra)
        return None

    def close(self) -> list[Event]:
        """End every open event (the source ended or the daemon is stopping)."""
        return [
            self._end(state, state.open_event, reason="stopped")
            for state in self._states.values()
            if state.open_event is not None
        ]

    def _maybe_start(self, state: _CameraState, frame: Frame) -> Event | None:
        hits = [p for p in state.history if p is not None]
        if len(hits) < self.config.debounce.hits:
            return None
        if state.dwell_since is None or frame.pts_s - state.dwell_since < self.config.dwell_s:
            return None
        last = state.last_start_pts_s
        if last is not None and frame.pts_s - last < self.config.cooldown_s:
            return None
        counts = Counter(p.label for p in hits)
        label = max(counts, key=lambda name: (counts[name], max(p.score for p in hits if p.label == name)))
        score = max(p.score for p in hits if p.label == label)
        event = self._event(frame.camera, "start", label, score, state.last_seen)
        state.open_event, state.peak_score, state.last_start_pts_s = event, score, frame.pts_s
        state.last_report_pts_s = frame.pts_s
        return event

    def _end(self, state: _CameraState, start: Event, *, reason: str) -> Event:
        extra = {
            "start_id": start.id,
            "duration_s": duration(start.pts_s, state.last_seen.pts_s),
            "reason": reason,
        }
        event = self._event(start.camera, "end", start.label, state.peak_score, state.last_seen, extra)
        state.open_event = None  # only once the end exists: if building it failed, a later frame ends it
        return event

    def _event(
        self,
        camera: str,
        phase: Phase,
        label: str,
        score: float,
        where: _Moment,
        extra: dict[str, object] | None = None,
    ) -> Event:
        return Event(
            camera=camera,
            type=self.config.type,
            label=label,
            score=round(float(score), 4),
            frame=where.frame,
            phase=phase,
            rule=self.config.name,
            pts_s=round(where.pts_s, 3),
            ts=utc_iso(where.ts),
            extra=extra or {},
            severity=self.config.severity,
        )


class RuleSet:
    """All rules of a site, applied to every prediction of the cameras they watch."""

    def __init__(self, configs: Sequence[RuleConfig]) -> None:
        self.rules = [Rule(config) for config in configs]

    def evaluate(
        self, frame: Frame, prediction: Prediction, on_error: Callable[[str, Exception], None] | None = None
    ) -> list[Event]:
        """The events ``frame`` causes. A rule that raises is reported to ``on_error(rule name, error)`` and
        the other rules still see the frame: one rule's bug must not blind the rest. Without ``on_error``
        the error propagates."""
        events = []
        for rule in self.rules:
            if not rule.config.watches(frame.camera):
                continue
            try:
                event = rule.update(frame, prediction)
            except Exception as exc:
                if on_error is None:
                    raise
                on_error(rule.config.name, exc)
                continue
            if event is not None:
                events.append(event)
        return events

    def close(self) -> list[Event]:
        return [event for rule in self.rules for event in rule.close()]
