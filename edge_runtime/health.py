"""Camera health: no frames, frozen picture, too dark, lens obscured or out of focus, resolution changed.

Each condition is judged on a small grey copy of a frame at most every ``check_every_s`` and must
hold for ``hold_s`` before it is raised, so a passing shadow or one dropped frame does not page
anyone. A raised condition is an event (phase ``start``) and its recovery another (``end``), the
same shape as a rule's events, so they travel through the same outbox and sinks. The states are
also what ``/healthz`` and ``/metrics`` show.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Literal, get_args

import cv2
import numpy as np

from edge_runtime.config.cameras import HealthConfig
from edge_runtime.events import Event, duration, health_event
from edge_runtime.sources import Frame

Condition = Literal["no_frames", "frozen", "dark", "obscured", "resolution_changed"]
CONDITIONS: tuple[Condition, ...] = get_args(Condition)
_PROBE_SIZE = (96, 72)  # grey thumbnail the checks run on: cheap, and blind to sensor noise detail


class CameraHealth:
    """The health of one camera, fed frames by its capture thread and ticked by the pipeline."""

    def __init__(
        self,
        camera: str,
        config: HealthConfig,
        emit: Callable[[Event], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.camera = camera
        self.config = config
        self._emit = emit
        self._clock = clock  # monotonic: a wall-clock jump must not make a duration negative
        self._lock = threading.Lock()
        self._active: dict[Condition, tuple[Event, float]] = {}  # the start event, and when it was raised
        self._since: dict[Condition, float] = {}  # when a condition was first seen, not yet raised
        self._last_frame_at = clock()
        self._last_check = float("-inf")
        self._previous: np.ndarray | None = None
        self._shape: tuple[int, ...] | None = None
        self._last_frame = 0
        self.measures: dict[str, float] = {}

    @property
    def active(self) -> list[Condition]:
        with self._lock:
            return sorted(self._active)

    def observe(self, frame: Frame) -> None:
        """Called for every captured frame; runs the picture checks at most every ``check_every_s``."""
        now = self._clock()
        with self._lock:
            self._last_frame_at, self._last_frame = now, frame.index
            self._judge("no_frames", False, now)
            shape = frame.image.shape
            if self._shape is not None and shape != self._shape:
                self._raise("resolution_changed", {"from": list(self._shape), "to": list(shape)})
                self._clear("resolution_changed", {})  # a one-off: reported, then the new size is normal
                self._previous = None
            self._shape = shape
            if now - self._last_check < self.config.check_every_s:
                return
            self._last_check = now
            grey = cv2.resize(cv2.cvtColor(frame.image, cv2.COLOR_BGR2GRAY), _PROBE_SIZE)
            brightness = float(grey.mean())
            sharpness = float(cv2.Laplacian(grey, cv2.CV_64F).var())
            change = (
                float(np.abs(grey.astype(np.int16) - self._previous).mean())
                if self._previous is not None
                else None
            )
            self._previous = grey.astype(np.int16)
            self.measures = {"brightness": brightness, "sharpness": sharpness}
            self._judge("dark", brightness < self.config.dark_below, now)
            # a dark picture is also flat and still: report only the cause
            dark = brightness < self.config.dark_below
            self._judge("obscured", not dark and sharpness < self.config.sharpness_below, now)
            if change is not None:
                self.measures["change"] = change
                self._judge("frozen", not dark and change < self.config.frozen_change_below, now)

    def tick(self) -> None:
        """Called by the pipeline every loop: notices a camera that has stopped delivering frames."""
        now = self._clock()
        with self._lock:
            self._judge("no_frames", now - self._last_frame_at > self.config.no_frames_s, now)

    def _judge(self, condition: Condition, present: bool, now: float) -> None:
        if not present:
            self._since.pop(condition, None)
            if condition in self._active:
                self._clear(condition, self.measures)
            return
        first = self._since.setdefault(condition, now)
        hold = 0.0 if condition == "no_frames" else self.config.hold_s
        if condition not in self._active and now - first >= hold:
            self._raise(condition, self.measures)

    def _raise(self, condition: Condition, extra: Mapping[str, object]) -> None:
        event = self._event(condition, "start", dict(extra))
        self._active[condition] = (event, self._clock())
        self._emit(event)

    def _clear(self, condition: Condition, extra: Mapping[str, object]) -> None:
        start, raised_at = self._active.pop(condition)
        span = duration(raised_at, self._clock())
        self._emit(self._event(condition, "end", {**extra, "start_id": start.id, "duration_s": span}))

    def _event(self, condition: Condition, phase: Literal["start", "end"], extra: dict[str, object]) -> Event:
        return health_event(
            self.camera,
            f"camera_{condition}",
            condition,
            phase,
            {key: round(value, 3) if isinstance(value, float) else value for key, value in extra.items()},
            kind="camera_health",
            severity="critical" if condition == "no_frames" else "warning",
            frame=self._last_frame,
        )
