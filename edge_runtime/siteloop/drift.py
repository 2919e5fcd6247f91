"""Drift: each camera's recent frames against the statistics of the data the bundle was trained on.

One frame per camera every ``every_s`` of video time (the frames' ``pts_s``, so a replay gives the
same events however fast it runs) is measured (``framestats``: brightness, contrast, sharpness
on a grey thumbnail, and the model's top score); the last ``window`` samples of each statistic are
compared with the bundle's ``reference`` by PSI. A statistic at or above ``raise_above`` raises a
``drift`` event naming it; it ends once the PSI falls below ``clear_below`` (hysteresis), so a
statistic hovering at the threshold does not page anyone twice. The window itself is the hold: one
dark minute among five does not move a five-minute window far.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from edge_runtime.events import Event, duration, utc_iso
from edge_runtime.postprocess import Classification, Detections, Prediction
from edge_runtime.siteloop.config import DriftConfig
from edge_runtime.siteloop.framestats import Distribution, ReferenceStats, Statistic, image_statistics
from edge_runtime.sources import Frame


def confidence_of(prediction: Prediction) -> float | None:
    """The model's top score on a frame: classify, the top class; detect, the best box (0 with none)."""
    if isinstance(prediction, Classification):
        return float(prediction.score)
    if isinstance(prediction, Detections):
        return max((float(d.score) for d in prediction.objects), default=0.0)
    return None  # segmentation carries no per-pixel score


@dataclass
class _Camera:
    samples: dict[Statistic, deque[float]]
    last_at: float = float("-inf")  # video time of the last sample
    last_frame: Frame | None = None
    psi: dict[Statistic, float] = field(default_factory=dict)
    active: dict[Statistic, tuple[Event, float]] = field(default_factory=dict)


class DriftMonitor:
    """Drift of every camera against one bundle's reference; ``observe`` runs on the inference thread."""

    def __init__(self, reference: ReferenceStats, config: DriftConfig) -> None:
        self.reference = reference
        self.config = config
        self.statistics = [s for s in config.statistics if reference.distribution(s) is not None]
        self._lock = threading.Lock()
        self._cameras: dict[str, _Camera] = {}

    def observe(self, frame: Frame, prediction: Prediction) -> list[Event]:
        now = frame.pts_s
        with self._lock:
            camera = self._cameras.setdefault(
                frame.camera, _Camera({s: deque(maxlen=self.config.window) for s in self.statistics})
            )
            camera.last_frame = frame
            if camera.last_at <= now < camera.last_at + self.config.every_s:
                return []  # (a looping file's pts restart: measure at once)
            camera.last_at = now
            measured: dict[Statistic, float | None] = {
                **image_statistics(frame.image, self.reference.thumbnail),
                "confidence": confidence_of(prediction),
            }
            events = []
            for statistic in self.statistics:
                value = measured[statistic]
                if value is None:
                    continue
                samples = camera.samples[statistic]
                samples.append(value)
                if len(samples) < self.config.min_samples:
                    continue
                psi = self._distribution(statistic).psi(samples)
                camera.psi[statistic] = psi
                if statistic not in camera.active and psi >= self.config.raise_above:
                    start = self._event(frame, statistic, "start", self._extra(statistic, samples, psi))
                    camera.active[statistic] = (start, now)
                    events.append(start)
                elif statistic in camera.active and psi < self.config.clear_below:
                    events.append(self._end(frame, camera, statistic, now, "cleared"))
            return events

    def close(self) -> list[Event]:
        """End every raised drift (the source ended or the daemon stops), at each camera's last frame."""
        with self._lock:
            return [
                self._end(camera.last_frame, camera, statistic, camera.last_at, "stopped")
                for camera in self._cameras.values()
                for statistic in list(camera.active)
            ]

    def state(self) -> dict[str, Any]:
        """Per camera and statistic: PSI, samples, medians and whether drift is raised (for /status)."""
        with self._lock:
            return {
                name: {
                    statistic: {
                        "psi": round(camera.psi[statistic], 4) if statistic in camera.psi else None,
                        "samples": len(camera.samples[statistic]),
                        "recent_median": _median(camera.samples[statistic]),
                        "reference_median": self._distribution(statistic).median,
                        "drifting": statistic in camera.active,
                    }
                    for statistic in self.statistics
                }
                for name, camera in self._cameras.items()
            }

    def _distribution(self, statistic: Statistic) -> Distribution:
        """The reference of one of ``self.statistics`` (which holds only those the reference has)."""
        found = self.reference.distribution(statistic)
        if found is None:
            raise KeyError(statistic)
        return found

    def _extra(self, statistic: Statistic, samples: deque[float], psi: float) -> dict[str, Any]:
        return {
            "psi": round(psi, 4),
            "recent_median": _median(samples),
            "reference_median": self._distribution(statistic).median,
            "samples": len(samples),
        }

    def _end(
        self, frame: Frame | None, camera: _Camera, statistic: Statistic, now: float, reason: str
    ) -> Event:
        start, raised_at = camera.active.pop(statistic)
        samples = camera.samples[statistic]
        extra = self._extra(statistic, samples, camera.psi.get(statistic, 0.0))
        extra |= {"start_id": start.id, "duration_s": duration(raised_at, now), "reason": reason}
        return self._event(frame, statistic, "end", extra)

    def _event(
        self, frame: Frame | None, statistic: Statistic, phase: Literal["start", "end"], extra: dict[str, Any]
    ) -> Event:
        return Event(
            camera=frame.camera if frame is not None else "",
            type="drift",
            label=statistic,
            score=1.0,
            frame=frame.index if frame is not None else 0,
            phase=phase,
            rule="drift",
            pts_s=round(frame.pts_s, 3) if frame is not None else 0.0,
            ts=utc_iso(frame.ts if frame is not None else time.time()),
            extra=extra,
            kind="drift",
            severity="warning",
        )


def _median(values: deque[float]) -> float | None:
    return round(float(np.median(values)), 4) if values else None
