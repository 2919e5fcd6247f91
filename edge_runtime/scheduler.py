"""Which cameras' frames the model runs next: the newest frame of each camera, shared fairly.

Each capture thread holds only its camera's newest frame; an older one it replaces is a dropped
inference slot. The scheduler serves the camera that is most overdue: the time since its last
inference times its target rate, i.e. the slots it is owed. Under overload every camera keeps the
same share of its target rate and none starves; and since a camera's frame waits in its own slot,
never behind a queue of older frames, its age stays bounded by about one round over the cameras.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from edge_runtime.capture import CaptureThread
from edge_runtime.sources import Frame


class FairScheduler:
    """Takes the pending frames of ``cameras`` most-overdue camera first."""

    def __init__(
        self,
        cameras: Sequence[CaptureThread],
        rates: Sequence[float | None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``rates``: each camera's target inferences per second; None (every frame) weighs 1."""
        if len(rates) != len(cameras):
            raise ValueError(f"{len(cameras)} cameras but {len(rates)} rates")
        self._cameras = list(cameras)
        self._weights = [rate or 1.0 for rate in rates]
        self._served = [float("-inf")] * len(cameras)
        self._clock = clock

    def take(self, limit: int | None = None) -> list[Frame]:
        """Up to ``limit`` (None: all) newest frames, one per camera, the most overdue camera first."""
        now = self._clock()
        waiting = [i for i, camera in enumerate(self._cameras) if camera.pending]
        waiting.sort(key=lambda i: (now - self._served[i]) * self._weights[i], reverse=True)
        frames: list[Frame] = []
        for i in waiting:
            if limit is not None and len(frames) >= limit:
                break
            frame = self._cameras[i].take()
            if frame is not None:  # may have gone since the peek (the camera ended)
                self._served[i] = now
                frames.append(frame)
        return frames
