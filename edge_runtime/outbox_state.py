"""What the outbox's delivery loops report about each sink, and the outcome of one step of a loop."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any


class Step(Enum):
    MOVED = "moved"  # delivered, or dead-lettered: the next row is due now
    FAILED = "failed"  # wait with back-off, then try the same row again
    IDLE = "idle"  # nothing to send
    DONE = "done"  # draining: caught up, or out of time


@dataclass
class SinkState:
    """What /healthz, /status and /metrics say about one sink."""

    name: str
    delivered: int = 0
    failures: int = 0
    last_error: str | None = None
    healthy: bool = True
    dead_letters: int = 0
    last_dead_letter: dict[str, Any] | None = None
    progress_at: float = 0.0  # clock time of the last delivery, dead letter or empty queue
    due_at: float = 0.0  # clock time by which the loop will have tried again (planned waits included)
    busy: bool = False  # inside the sink's deliver (a hang there is the liveness stall's job)

    def view(self) -> dict[str, Any]:
        keys = ("delivered", "failures", "last_error", "healthy", "dead_letters", "last_dead_letter")
        return {key: getattr(self, key) for key in keys}
