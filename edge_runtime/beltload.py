"""Belt load and speed: the coal class's share of a belt region, smoothed, and a recommended belt speed.

A conveyor running at full speed with little coal on it wastes drive energy; one carrying more than
its design load spills and trips. From each frame's segmentation mask the monitor measures the load
(coal pixels / region pixels), smooths it with an exponential filter over video time (so a replay
gives the same numbers however fast it runs), and recommends a speed proportional to the load:
at that speed the same tonnage per second lies on the belt at its design load (``full_load``).
The set point moves only beyond a dead band (no hunting on a lumpy stream) and the recommendation
ramps at most ``max_accel_mps2``, as a belt drive may change speed. A smoothed load above
``overload.above`` for ``hold_s`` starts an overload event, ended below ``overload.below``.
Events are ordinary ``Event`` objects, so the outbox and every sink carry them unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from edge_runtime.config.belt import BeltLoadConfig
from edge_runtime.errors import ConfigError
from edge_runtime.events import Event, Phase, duration, utc_iso
from edge_runtime.segmentation import Segmentation
from edge_runtime.sources import Frame

RULE = "belt_load"
OVERLOAD_TYPE = "belt_overload"
OVERLOAD_LABEL = "overload"
SPEED_TYPE = "belt_speed"


def region_mask(region: list[tuple[float, float]], frame_hw: tuple[int, int]) -> np.ndarray:
    """The pixels of a 0..1 polygon in a frame of ``frame_hw``; the generator's truth uses this too."""
    height, width = frame_hw
    points = np.round(np.asarray(region, np.float64) * (width, height)).astype(np.int32)
    mask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(mask, [points], 1)
    return mask.astype(bool)


def load_fraction(class_mask: np.ndarray, region: np.ndarray, class_index: int) -> float:
    """Share of the region's pixels whose class is ``class_index`` (0 for an empty region)."""
    inside = int(np.count_nonzero(region))
    return int(np.count_nonzero(class_mask[region] == class_index)) / inside if inside else 0.0


@dataclass
class BeltState:
    """One camera's belt: the latest inputs and outputs, as /status and /metrics show them."""

    load: float  # smoothed
    raw_load: float  # this frame's
    setpoint_mps: float
    speed_mps: float  # the recommendation, ramped towards the set point
    overloaded: bool = False
    frame: int = 0
    pts_s: float = 0.0
    ts: float = 0.0
    above_since: float | None = None  # video time the smoothed load went above overload.above
    open_event: Event | None = field(default=None, repr=False)
    reported_mps: float | None = None  # the speed of the last belt_speed event

    def view(self) -> dict[str, object]:
        """What /status shows and /metrics exports."""
        return {
            "load": round(self.load, 4),
            "raw_load": round(self.raw_load, 4),
            "setpoint_mps": round(self.setpoint_mps, 3),
            "speed_mps": round(self.speed_mps, 3),
            "overloaded": self.overloaded,
            "frame": self.frame,
            "pts_s": round(self.pts_s, 3),
        }


class BeltLoadMonitor:
    """Turns segmentations of the belt camera(s) into load, a speed recommendation and events."""

    def __init__(self, config: BeltLoadConfig, classes: list[str]) -> None:
        if config.label not in classes:
            raise ConfigError(
                f"belt_load.label: {config.label!r} is not among the bundle's classes; valid: {', '.join(classes)}"
            )
        self.config = config
        self._class = classes.index(config.label)
        self._regions: dict[tuple[int, int], np.ndarray] = {}
        self.states: dict[str, BeltState] = {}

    def update(self, frame: Frame, prediction: Segmentation) -> list[Event]:
        """Feed one frame's segmentation; returns the overload and speed events it causes."""
        shape = prediction.mask.shape[:2]
        if shape not in self._regions:
            self._regions[shape] = region_mask(self.config.region, shape)
        return self.feed(frame, load_fraction(prediction.mask, self._regions[shape], self._class))

    def feed(self, frame: Frame, raw: float) -> list[Event]:
        """Feed one frame's measured load (0..1); the benchmark also feeds the generator's truth here."""
        state = self.states.get(frame.camera)
        speed = self.config.speed
        if state is None:  # the belt is assumed to run at full speed until the first frame says otherwise
            state = BeltState(raw, raw, speed.max_mps, speed.max_mps)
            self.states[frame.camera] = state
            dt = 0.0
        else:
            dt = max(frame.pts_s - state.pts_s, 0.0)
            tau = self.config.smoothing_s
            alpha = 1.0 if tau == 0 else 1.0 - math.exp(-dt / tau)
            state.load += alpha * (raw - state.load)
        state.raw_load, state.frame, state.pts_s, state.ts = raw, frame.index, frame.pts_s, frame.ts
        self._recommend(state, dt)
        return [
            event
            for event in (self._overload(state, frame.camera), self._speed(state, frame.camera))
            if event
        ]

    def close(self) -> list[Event]:
        """End the overloads still open (the source ended or the daemon is stopping)."""
        return [
            self._end(state, state.open_event, camera, reason="stopped")
            for camera, state in self.states.items()
            if state.open_event is not None
        ]

    def _recommend(self, state: BeltState, dt: float) -> None:
        speed = self.config.speed
        target = min(max(speed.max_mps * state.load / speed.full_load, speed.min_mps), speed.max_mps)
        at_limit = target in (speed.min_mps, speed.max_mps)
        if abs(target - state.setpoint_mps) >= speed.deadband_mps or (
            at_limit and target != state.setpoint_mps
        ):
            state.setpoint_mps = target
        step = speed.max_accel_mps2 * dt
        state.speed_mps += min(max(state.setpoint_mps - state.speed_mps, -step), step)

    def _overload(self, state: BeltState, camera: str) -> Event | None:
        limits = self.config.overload
        if state.open_event is not None:
            ended = state.load <= limits.below
            return self._end(state, state.open_event, camera, reason="load_fell") if ended else None
        if state.load < limits.above:
            state.above_since = None
            return None
        if state.above_since is None:
            state.above_since = state.pts_s
        if state.pts_s - state.above_since < limits.hold_s:
            return None
        state.overloaded = True
        state.open_event = self._event(camera, OVERLOAD_TYPE, "start", state, {})
        return state.open_event

    def _end(self, state: BeltState, start: Event, camera: str, *, reason: str) -> Event:
        extra = {"start_id": start.id, "duration_s": duration(start.pts_s, state.pts_s), "reason": reason}
        state.open_event, state.overloaded, state.above_since = None, False, None
        return self._event(camera, OVERLOAD_TYPE, "end", state, extra)

    def _speed(self, state: BeltState, camera: str) -> Event | None:
        """A belt_speed event on the first frame, whenever the recommendation moved ``report_step_mps``, and
        when a ramp reaches its set point (so the drive is told the final speed, not the last step's)."""
        last = state.reported_mps
        settled = abs(state.speed_mps - state.setpoint_mps) < 1e-9
        if last is not None and (
            abs(state.speed_mps - last) < self.config.speed.report_step_mps
            and not (settled and last != state.speed_mps)
        ):
            return None
        state.reported_mps = state.speed_mps
        return self._event(camera, SPEED_TYPE, "update", state, {})

    def _event(
        self, camera: str, type_: str, phase: Phase, state: BeltState, extra: dict[str, object]
    ) -> Event:
        speed = self.config.speed
        inputs = {
            "load": round(state.load, 4),
            "raw_load": round(state.raw_load, 4),
            "recommended_speed_mps": round(state.speed_mps, 3),
            "setpoint_mps": round(state.setpoint_mps, 3),
            "min_mps": speed.min_mps,
            "max_mps": speed.max_mps,
            "full_load": speed.full_load,
            "overload_above": self.config.overload.above,
            "smoothing_s": self.config.smoothing_s,
        }
        return Event(
            camera=camera,
            type=type_,
            label=OVERLOAD_LABEL if type_ == OVERLOAD_TYPE else "speed",
            score=round(state.load, 4),
            frame=state.frame,
            phase=phase,
            rule=RULE,
            pts_s=round(state.pts_s, 3),
            ts=utc_iso(state.ts),
            extra={**inputs, **extra},
            kind="belt_load",
            severity="critical" if type_ == OVERLOAD_TYPE else "info",
        )
