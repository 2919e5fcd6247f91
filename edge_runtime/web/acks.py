"""Acknowledgements of events by the control room: durable (SQLite), the same for every viewer.

An operator acknowledges an incident (its start event's id) once; who and when is kept across
restarts, in its own small database beside the outbox (never in the outbox, whose rows leave once
delivered). Acknowledging again changes nothing: the first acknowledgement stands.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from edge_runtime.errors import ConfigError
from edge_runtime.events import utc_iso

EVENT_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_NAME = 64
_SELECT = "SELECT event_id, by, at FROM acks"


@dataclass(frozen=True)
class Ack:
    event_id: str
    by: str
    at: str  # ISO 8601 UTC

    def to_dict(self) -> dict[str, str]:
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
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"http.acks_path: cannot open {self.path} ({exc})") from exc

    def acknowledge(self, event_id: str, by: str) -> Ack:
        """Record the first acknowledgement of ``event_id``; return the one that stands."""
        if not EVENT_ID.match(event_id):
            raise ValueError(f"{event_id!r} is not an event id (32 hex digits)")
        by = " ".join(by.split())[:MAX_NAME] or "operator"
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO acks (event_id, by, at) VALUES (?, ?, ?)",
                (event_id, by, utc_iso(time.time())),
            )
            row = self._db.execute(f"{_SELECT} WHERE event_id = ?", (event_id,)).fetchone()
        return Ack(*row)

    def lookup(self, event_ids: list[str]) -> dict[str, Ack]:
        """The acknowledgements of those of ``event_ids`` that have one."""
        if not event_ids:
            return {}
        found: dict[str, Ack] = {}
        with self._lock:
            for first in range(0, len(event_ids), 500):  # SQLite's limit on bound parameters
                chunk = event_ids[first : first + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(f"{_SELECT} WHERE event_id IN ({marks})", chunk)
                found |= {row[0]: Ack(*row) for row in rows}
        return found

    def close(self) -> None:
        with self._lock:
            self._db.close()
