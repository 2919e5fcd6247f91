"""Which stage is busy, and since when: how the daemon notices a stage that hangs.

A hung stage (an inference runtime that never returns, a sink stuck in a write to a dead network
share) raises nothing: it simply stops. Each stage marks itself busy around its work; one busy for
longer than ``stall_s`` is stalled. ``/healthz`` turns red naming it, and the inference loop stops
petting systemd's watchdog, so systemd restarts the daemon (the outbox keeps every event across
the restart). A stuck inference stage stops the petting by itself: the loop that pets is the loop
that is stuck.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class Liveness:
    def __init__(self, stall_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.stall_s = stall_s
        self._clock = clock
        self._lock = threading.Lock()
        self._busy: dict[str, float] = {}

    @contextmanager
    def busy(self, stage: str) -> Iterator[None]:
        """Mark ``stage`` busy for the duration of the block (one holder per stage name)."""
        with self._lock:
            self._busy[stage] = self._clock()
        try:
            yield
        finally:
            with self._lock:
                self._busy.pop(stage, None)

    def stalled(self) -> dict[str, float]:
        """Stages busy for longer than ``stall_s``, with how long (seconds) they have been."""
        now = self._clock()
        with self._lock:
            return {
                stage: round(now - since, 1)
                for stage, since in sorted(self._busy.items())
                if now - since > self.stall_s
            }
