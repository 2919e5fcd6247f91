"""Acknowledgements and feedback of the control room on events: durable (SQLite), the same for every viewer.

An operator acknowledges an incident (its start event's id) once; who and when is kept across
restarts, in its own small database beside the outbox (never in the outbox, whose rows leave once
delivered). Acknowledging again changes nothing: the first acknowledgement stands.

Feedback says whether the model was right: ``false_alarm``, ``confirmed``, or ``relabel`` with the
class it really was. It is kept in the same database with the frame it is about (the capture the
site loop kept of the event's start, else its snapshot); the newest feedback on an event stands, so
an operator can correct a slip. The labelling export reads it from here.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, get_args

from edge_runtime.errors import ConfigError
from edge_runtime.events import utc_iso

EVENT_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_NAME = 64
_SELECT = "SELECT event_id, by, at FROM acks"
_FEEDBACK = "SELECT event_id, verdict, label, by, at, frame, event_label FROM feedback"
Verdict = Literal["false_alarm", "confirmed", "relabel"]
VERDICTS: tuple[Verdict, ...] = get_args(Verdict)


@dataclass(frozen=True)
class Ack:
    event_id: str
    by: str
    at: str  # ISO 8601 UTC

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class Feedback:
    event_id: str
    verdict: Verdict
    label: str | None  # relabel: the class it really was
    by: str
    at: str  # ISO 8601 UTC
    frame: str | None  # the stored frame: a capture's path, or the event's snapshot URL
    event_label: str = ""  # the label the event named (what a false alarm or a relabel corrects)

    def to_dict(self) -> dict[str, str | None]:
        return asdict(self)


class AckStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")  # an acknowledgement survives a power cut
            self._db.execute("CREATE TABLE IF NOT EXISTS acks (event_id TEXT PRIMARY KEY, by TEXT, at TEXT)")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS feedback (event_id TEXT PRIMARY KEY, verdict TEXT, label TEXT, "
                "by TEXT, at TEXT, frame TEXT, event_label TEXT)"
            )
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"http.acks_path: cannot open {self.path} ({exc})") from exc

    def acknowledge(self, event_id: str, by: str) -> Ack:
        """Record the first acknowledgement of ``event_id``; return the one that stands."""
        by = _operator(event_id, by)
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO acks (event_id, by, at) VALUES (?, ?, ?)",
                (event_id, by, utc_iso(time.time())),
            )
            row = self._db.execute(f"{_SELECT} WHERE event_id = ?", (event_id,)).fetchone()
        return Ack(*row)

    def lookup(self, event_ids: list[str]) -> dict[str, Ack]:
        """The acknowledgements of those of ``event_ids`` that have one."""
        return {row[0]: Ack(*row) for row in self._rows(_SELECT, event_ids)}

    def give_feedback(
        self,
        event_id: str,
        verdict: str,
        by: str,
        *,
        label: str | None = None,
        frame: str | None = None,
        event_label: str = "",
    ) -> Feedback:
        """Record feedback on ``event_id`` (replacing any before it); ValueError for a bad verdict."""
        by = _operator(event_id, by)
        if verdict not in VERDICTS:
            raise ValueError(f"verdict {verdict!r}; valid: {', '.join(VERDICTS)}")
        if (verdict == "relabel") != (label is not None):
            raise ValueError("a label goes with the verdict relabel, and only with it")
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO feedback (event_id, verdict, label, by, at, frame, event_label) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (event_id, verdict, label, by, utc_iso(time.time()), frame, event_label),
            )
            row = self._db.execute(f"{_FEEDBACK} WHERE event_id = ?", (event_id,)).fetchone()
        return Feedback(*row)

    def feedback(self, event_ids: list[str] | None = None) -> dict[str, Feedback]:
        """The feedback on those of ``event_ids`` that have some; every feedback when None (export)."""
        if event_ids is None:
            with self._lock:
                return {row[0]: Feedback(*row) for row in self._db.execute(f"{_FEEDBACK} ORDER BY at")}
        return {row[0]: Feedback(*row) for row in self._rows(_FEEDBACK, event_ids)}

    def _rows(self, select: str, event_ids: list[str]) -> list[tuple]:
        found: list[tuple] = []
        with self._lock:
            for first in range(0, len(event_ids), 500):  # SQLite's limit on bound parameters
                chunk = event_ids[first : first + 500]
                marks = ",".join("?" * len(chunk))
                found += self._db.execute(f"{select} WHERE event_id IN ({marks})", chunk).fetchall()
        return found

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _operator(event_id: str, by: str) -> str:
    """The operator's name as stored; ValueError for something that is not an event id."""
    if not EVENT_ID.match(event_id):
        raise ValueError(f"{event_id!r} is not an event id (32 hex digits)")
    return " ".join(by.split())[:MAX_NAME] or "operator"
