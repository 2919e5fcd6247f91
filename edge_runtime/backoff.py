"""Exponential back-off with jitter: the one retry schedule of reconnecting sources and deliveries.

Each failure doubles the wait from ``min_s`` up to ``max_s``; a success resets it. The wait is
drawn between half and all of it (jitter), so many cameras or devices that lost one network or one
broker together do not all retry in the same instant. The random source is injectable for tests.
"""

from __future__ import annotations

import random


class Backoff:
    def __init__(self, min_s: float, max_s: float, rng: random.Random | None = None) -> None:
        self.min_s, self.max_s = min_s, max_s
        self.current = min_s  # the wait before jitter that the next failure gets
        self._rng = rng or random.Random()

    def next(self) -> float:
        """The seconds to wait after this failure; the following one waits (up to) twice as long."""
        delay = self.current * self._rng.uniform(0.5, 1.0)
        self.current = min(self.current * 2, self.max_s)
        return delay

    def reset(self) -> None:
        """After a success: the next failure starts again from ``min_s``."""
        self.current = self.min_s
