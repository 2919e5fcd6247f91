"""Two clocks of a camera: when a stream's frame was really captured, and which frames the model gets.

``StreamClock`` (fed the frames the model gets): a frame's arrival time hides the stream's backlog.
When decoding falls behind, frames wait in the socket and the decoder and arrive late, and "age
since arrival" looks fine while the picture is seconds old. The stream's own timestamps advance at
the camera's pace, so the smallest ``arrival - pts`` seen recently is the offset of a frame that
waited for nothing; a frame's capture time is that offset plus its pts, and its backlog ``arrival -
capture``. The minimum is taken over a sliding window (two halves), so a camera clock that runs
slower than the box's does not build up a false backlog; a jump of the timestamps (camera restart,
a looping test server) starts afresh.

``Slots``: the model runs ``fps`` times per second of the camera's clock: the first frame at or after
each due time is the one inferred, the rest are decoded (H.264 needs every frame) but not converted.
The due times lie on a grid, each camera's shifted by its own ``phase`` of a period: cameras given
phases spread evenly (the daemon: camera i of n gets i/n) bring their frames due in turn, so the
model sees an even stream of frames instead of every camera's at the same moment (which cameras
connected together, or whose frames arrive in step, would otherwise do).
"""

from __future__ import annotations

import math

WINDOW_S = 30.0  # how long one backlog-free frame anchors the offset
JUMP_S = 2.0  # stream time and wall time disagreeing this much between two frames: a discontinuity
_EPSILON_S = 1e-3  # timestamps of a 25 fps stream are multiples of 40 ms give or take rounding


class StreamClock:
    """Capture times of one stream's frames in wall-clock seconds, from arrival times and stream pts."""

    def __init__(self, window_s: float = WINDOW_S) -> None:
        self._half = window_s / 2
        self._previous: tuple[float, float] | None = None  # (arrival, pts) of the last frame
        self._minima = [float("inf"), float("inf")]  # older half, current half
        self._half_started = 0.0

    def capture_time(self, arrival: float, pts_s: float) -> float:
        """When the frame stamped ``pts_s`` (stream seconds) that arrived at ``arrival`` was captured."""
        if self._previous is not None:
            last_arrival, last_pts = self._previous
            stalled = pts_s <= last_pts  # a stream without timestamps, or one that went back
            if stalled or abs((pts_s - last_pts) - (arrival - last_arrival)) > JUMP_S:
                self._minima = [float("inf"), float("inf")]
        self._previous = (arrival, pts_s)
        if arrival - self._half_started >= self._half:
            self._minima = [self._minima[1], float("inf")]
            self._half_started = arrival
        self._minima[1] = min(self._minima[1], arrival - pts_s)
        return min(arrival, min(self._minima) + pts_s)


class Slots:
    """The due times of ``fps`` inferences per second on a monotonic clock (video or capture seconds),
    ``phase`` (a fraction of a period) past each multiple of the period."""

    def __init__(self, fps: float, phase: float = 0.0) -> None:
        self.period = 1.0 / fps
        self._offset = (phase % 1.0) * self.period
        self._next: float | None = None
        self._floor: float | None = None  # after a restart: nothing due before one period has passed

    def due(self, t: float) -> bool:
        """True for the first frame at or after each due time; keeps the long-run rate at ``fps``."""
        if self._next is not None and self._next - 2 * self.period <= t < self._next - _EPSILON_S:
            return False
        if self._floor is not None and self._next is not None and self._next - _EPSILON_S <= t < self._floor:
            return False
        if self._next is None or t >= self._next + self.period or t < self._next - 2 * self.period:
            # the first frame, a gap longer than a slot, or time went back: due now, then on the grid
            # from half a period on, but not within a whole period: after a stalled capture a slot 160
            # ms on replaced the restarting frame before a busy model took it (the one slot of 4,800
            # lost by 32 cameras, benchmarks/README.md)
            self._next = self._on_grid(t + self.period / 2)
            self._floor = t + self.period - _EPSILON_S
        else:
            self._next += self.period
            self._floor = None
        return True

    def _on_grid(self, t: float) -> float:
        """The first due time at or after ``t``."""
        return math.ceil((t - self._offset) / self.period - 1e-9) * self.period + self._offset
