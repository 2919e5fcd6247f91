"""Is the box over capacity? Cameras losing inference slots, or the model seeing stale frames.

When the cameras ask for more than the cores give, the scheduler keeps every camera's share fair and
its frames fresh, but something has to give: slots are dropped (a newer frame replaced one the model
never saw) or, when even decoding falls behind, frames age. Over the last ``window_s`` this monitor
compares each camera's share of dropped slots (cameras with an ``infer_fps``: the rate they were
promised) and every camera's p99 frame age with the site's limits, says so
in ``/status`` and ``/metrics``, and raises a ``box_over_capacity`` event (kind ``capacity``, camera
``daemon``: ``start``, then ``end`` once a whole window is within the limits again; docs/events.md) instead
of letting the site silently fall behind.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from edge_runtime.capture import CaptureThread
from edge_runtime.config.cameras import CapacityConfig
from edge_runtime.events import Event, health_event
from edge_runtime.timing import LatencyStats

EVENT_TYPE = "box_over_capacity"


@dataclass(frozen=True)
class WatchedCamera:
    name: str
    capture: CaptureThread
    target_fps: float | None  # None: every frame


class CapacityMonitor:
    """Judges the last ``window_s`` on each ``check``; ``record`` is fed every frame's age at inference."""

    def __init__(
        self,
        cameras: Sequence[WatchedCamera],
        config: CapacityConfig,
        emit: Callable[[Event], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._cameras = list(cameras)
        self._emit = emit
        self._clock = clock
        self._lock = threading.Lock()
        self._ages: dict[str, deque[tuple[float, float]]] = {c.name: deque() for c in cameras}
        self._counts: deque[tuple[float, dict[str, tuple[int, int, int]]]] = deque()
        self._open: Event | None = None
        self._opened_at = 0.0
        self._state: dict[str, Any] = self._view(
            {
                "window_s": 0.0,
                "target_fps": self._target(),
                "fps": None,
                "frame_age_p50_ms": None,
                "frame_age_p99_ms": None,
                "cameras_behind": [],
            },
            {},
        )

    def _target(self) -> float:
        return round(sum(c.target_fps or 0.0 for c in self._cameras), 1)

    def _view(self, summary: dict[str, Any], cameras: dict[str, Any]) -> dict[str, Any]:
        return {
            "over_capacity": self._open is not None,
            "since": self._open.ts if self._open is not None else None,
            **summary,
            "limits": {
                "max_dropped": self.config.max_dropped,
                "max_frame_age_ms": self.config.max_frame_age_ms,
            },
            "cameras": cameras,
        }

    def record(self, camera: str, age_ms: float) -> None:
        with self._lock:
            self._ages[camera].append((self._clock(), age_ms))

    def check(self) -> None:
        """Judge the window that ends now; raise or end the health event when the verdict changes."""
        now = self._clock()
        counts = {
            c.name: (c.capture.stats.captured, c.capture.stats.delivered, c.capture.stats.dropped)
            for c in self._cameras
        }
        self._counts.append((now, counts))
        while len(self._counts) > 2 and self._counts[1][0] <= now - self.config.window_s:
            self._counts.popleft()
        first_at, first = self._counts[0]
        span = now - first_at
        cameras, all_ages = {}, []
        with self._lock:
            for camera in self._cameras:
                ages = self._ages[camera.name]
                while ages and ages[0][0] < now - self.config.window_s:
                    ages.popleft()
                window = [age for _, age in ages]
                all_ages += window
                cameras[camera.name] = self._camera(
                    camera, first[camera.name], counts[camera.name], span, window
                )
        behind = [name for name, state in cameras.items() if state["behind"]]
        summary = {
            "window_s": round(span, 1),
            "target_fps": self._target(),
            "fps": round(sum(state["fps"] for state in cameras.values()), 1),
            "frame_age_p50_ms": _percentile(all_ages, 50),
            "frame_age_p99_ms": _percentile(all_ages, 99),
            "cameras_behind": behind,
        }
        self._transition(bool(behind), summary)
        with self._lock:
            self._state = self._view(summary, cameras)

    def _camera(
        self,
        camera: WatchedCamera,
        before: tuple[int, int, int],
        after: tuple[int, int, int],
        span: float,
        ages: list[float],
    ) -> dict[str, Any]:
        slots, delivered, dropped = (a - b for a, b in zip(after, before, strict=True))
        share = dropped / slots if slots else 0.0
        p99 = _percentile(ages, 99)
        return {
            "target_fps": camera.target_fps,
            "fps": round(delivered / span, 2) if span > 0 else 0.0,
            "dropped": dropped,
            "dropped_share": round(share, 3),
            "frame_age_p99_ms": p99,
            # slots are a promise only where infer_fps set a rate; an every-frame camera takes what the
            # box gives (newest frame wins, drops counted) and is behind only when its frames get stale
            "behind": (camera.target_fps is not None and share > self.config.max_dropped)
            or (p99 or 0.0) > self.config.max_frame_age_ms,
        }

    def _transition(self, over: bool, summary: dict[str, Any]) -> None:
        if over and self._open is None:
            self._open, self._opened_at = self._event("start", summary), self._clock()
            self._emit(self._open)
        elif not over and self._open is not None:
            duration = round(self._clock() - self._opened_at, 3)
            self._emit(self._event("end", summary | {"start_id": self._open.id, "duration_s": duration}))
            self._open = None

    @staticmethod
    def _event(phase: Literal["start", "end"], extra: dict[str, Any]) -> Event:
        # camera "daemon": the daemon itself, the whole box, every camera on it
        return health_event(
            "daemon", EVENT_TYPE, "over_capacity", phase, extra, kind="capacity", severity="warning"
        )

    @property
    def over(self) -> bool:
        return self._open is not None

    def state(self) -> dict[str, Any]:
        """For /status: the verdict, when it started, and each camera's figures over the window."""
        with self._lock:
            return dict(self._state)


def _percentile(values: list[float], q: Literal[50, 99]) -> float | None:
    stats = LatencyStats.maybe(values)
    if stats is None:
        return None
    return round(stats.p50_ms if q == 50 else stats.p99_ms, 2)
