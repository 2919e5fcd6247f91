"""The durable outbox: every event is committed to SQLite (WAL) before any sink sees it.

One delivery thread per sink reads the events after its own cursor, in order, and advances the
cursor only once the sink has the event, so a broker outage, a restart or a power cut (``kill -9``)
loses nothing: on the next start each sink resumes where it stopped (at least once; receivers dedupe
by event id). A failing sink is retried with exponential back-off on its own thread and never blocks
inference or the other sinks. Rows every sink has are deleted; beyond ``max_events`` the oldest
undelivered rows are dropped, counted and logged with their ids, so the disk can never fill up.

When the volume is full anyway (other files, a small partition) SQLite refuses the commit: the
event is then held in memory, in order, the condition is reported (``storage_error``, in /healthz
and /metrics) and inference goes on; the held events are committed as soon as space returns.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from edge_runtime.backoff import Backoff
from edge_runtime.config import OutboxConfig
from edge_runtime.errors import ConfigError
from edge_runtime.events import Event, Sink
from edge_runtime.liveness import Liveness

log = logging.getLogger(__name__)

RECENT_EVENTS = 1000  # kept in memory for the dashboard's events page

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cursors (sink TEXT PRIMARY KEY, seq INTEGER NOT NULL);
"""


def _connect(path: Path) -> sqlite3.Connection:
    # synchronous=FULL: a commit survives a power cut, not only a process crash
    connection = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    return connection


@dataclass
class SinkState:
    """What /healthz and /metrics say about one sink."""

    name: str
    delivered: int = 0
    failures: int = 0
    last_error: str | None = None
    healthy: bool = True


class Outbox:
    """Sink-like (``deliver``/``close``) front of the durable queue; owns the sinks it feeds."""

    name = "outbox"

    def __init__(self, config: OutboxConfig, sinks: Sequence[Sink], liveness: Liveness | None = None) -> None:
        self.config = config
        self.sinks = list(sinks)
        self.dropped = 0
        self.storage_error: str | None = None  # why the last commit failed; None once commits work
        self.storage_failures = 0
        self._held: deque[Event] = deque()  # accepted but not yet committed (the disk refused them)
        self._liveness = liveness
        self._lock = threading.Lock()
        self._drain_deadline: float | None = None
        try:
            config.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = _connect(config.path)
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"outbox.path: cannot open {config.path} ({exc})") from exc
        self.states = {sink.name: SinkState(sink.name) for sink in self.sinks}
        self._wake = {sink.name: threading.Event() for sink in self.sinks}
        for sink in self.sinks:
            self._db.execute("INSERT OR IGNORE INTO cursors (sink, seq) VALUES (?, 0)", (sink.name,))
        self._threads = [
            threading.Thread(target=self._deliver_loop, args=(sink,), name=f"sink-{sink.name}", daemon=True)
            for sink in self.sinks
        ]
        # The newest events with their outbox sequence, for the dashboard (delivered rows leave the table).
        self.recent: deque[tuple[int, Event]] = deque(maxlen=RECENT_EVENTS)
        for seq, body in reversed(
            self._db.execute(
                "SELECT seq, body FROM events ORDER BY seq DESC LIMIT ?", (RECENT_EVENTS,)
            ).fetchall()
        ):
            self.recent.append((seq, Event.from_json(body)))
        pending = self.depth()
        if pending:
            log.info("outbox %s: %d undelivered event(s) from an earlier run", config.path, pending)
        for thread in self._threads:
            thread.start()

    def deliver(self, event: Event) -> None:
        """Commit ``event`` (durable on return unless the disk refuses: then held), wake the sinks."""
        with self._lock:
            self._held.append(event)
            self._commit_held()
        for wake in self._wake.values():
            wake.set()

    @property
    def held(self) -> int:
        """Events accepted while the disk refused them, waiting in memory for space."""
        with self._lock:
            return len(self._held)

    def retry_held(self) -> None:
        """Try again to commit what the disk refused (called while the sinks are idle)."""
        with self._lock:
            if self._held:
                self._commit_held()

    def _commit_held(self) -> None:
        try:
            with self._transaction():
                committed = [
                    (self._db.execute("INSERT INTO events (id, body) VALUES (?, ?)", (e.id, e.to_json())).lastrowid, e)
                    for e in self._held
                ]
                self._enforce_bound()
        except sqlite3.Error as exc:  # SQLITE_FULL, an I/O error: keep the events, report, retry later
            self.storage_failures += 1
            if self.storage_error is None:
                log.error("outbox %s: cannot commit (%s); holding events in memory", self.config.path, exc)
            self.storage_error = str(exc)
            self._bound_held()
            return
        if self.storage_error is not None:
            log.info("outbox %s: committing again (%d held event(s) written)", self.config.path, len(self._held))
        self.recent.extend((seq, event) for seq, event in committed if seq is not None)
        self._held.clear()
        self.storage_error = None

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _bound_held(self) -> None:
        excess = len(self._held) - self.config.max_events
        if excess > 0:
            dropped = [self._held.popleft().id for _ in range(excess)]
            self.dropped += excess
            log.error("outbox full in memory too: dropped the oldest held event(s): %s", ", ".join(dropped))

    def depth(self, sink: str | None = None) -> int:
        """Events not yet delivered to ``sink`` (or to the slowest sink)."""
        with self._lock:
            cursor = self._cursor(sink) if sink else self._min_cursor()
            return self._db.execute("SELECT COUNT(*) FROM events WHERE seq > ?", (cursor,)).fetchone()[0]

    def recent_events(self) -> list[tuple[int, Event]]:
        """The newest events (oldest first) with their sequence numbers, this run's and any left undelivered."""
        with self._lock:
            return list(self.recent)

    def cursors(self) -> dict[str, int]:
        """Each sink's cursor: it has every event up to this sequence number."""
        with self._lock:
            return {name: self._cursor(name) for name in self.states}

    def close(self) -> None:
        """Let the sinks catch up for ``drain_timeout_s``, then stop; what is left stays for next time."""
        self._drain_deadline = time.monotonic() + self.config.drain_timeout_s
        for wake in self._wake.values():
            wake.set()
        for thread in self._threads:
            thread.join(self.config.drain_timeout_s + self.config.retry_max_s)
        self.retry_held()
        if self._held:
            log.error(
                "outbox %s: still cannot commit (%s); %d event(s) lost at exit: %s",
                self.config.path, self.storage_error, len(self._held), ", ".join(e.id for e in self._held),
            )
        left = self.depth() if self.sinks else 0
        if left:
            log.warning("outbox: %d event(s) not yet delivered everywhere; kept for the next start", left)
        self._db.close()

    def _deliver_loop(self, sink: Sink) -> None:
        state, wake = self.states[sink.name], self._wake[sink.name]
        backoff = Backoff(self.config.retry_min_s, self.config.retry_max_s)  # jitter: many devices, one broker
        while True:
            row = self._next(sink.name)
            if row is None:
                if self._drain_deadline is not None:
                    return  # caught up while draining
                wake.wait(1.0)
                wake.clear()
                self.retry_held()
                continue
            if self._drain_deadline is not None and time.monotonic() > self._drain_deadline:
                return
            seq, body = row
            try:
                with self._liveness.busy(f"sink:{sink.name}") if self._liveness else nullcontext():
                    sink.deliver(Event.from_json(body))
            except OSError as exc:
                state.failures += 1
                state.healthy = False
                state.last_error = str(exc)
                log.warning("sink %s: delivery failed (%s); retrying in up to %.1f s", sink.name, exc, backoff.current)
                if self._drain_deadline is not None:
                    return  # no retries once stopping: the event stays in the outbox
                wake.wait(backoff.next())
                wake.clear()
                continue
            backoff.reset()
            state.delivered += 1
            if not state.healthy:
                log.info("sink %s: delivering again", sink.name)
            state.healthy, state.last_error = True, None
            self._advance_until_recorded(sink.name, seq)

    def _advance_until_recorded(self, sink: str, seq: int) -> None:
        """Move the cursor past ``seq``; while the disk refuses, retry rather than send the event again."""
        while True:
            try:
                self._advance(sink, seq)
                return
            except sqlite3.Error as exc:
                if self.storage_error is None:
                    log.error("outbox %s: cannot record delivery to %s (%s)", self.config.path, sink, exc)
                self.storage_error = str(exc)
                if self._drain_deadline is not None:
                    return  # stopping: the event stays and is sent again next start (deduped by id)
                time.sleep(self.config.retry_max_s)

    def _next(self, sink: str) -> tuple[int, str] | None:
        with self._lock:
            return self._db.execute(
                "SELECT seq, body FROM events WHERE seq > ? ORDER BY seq LIMIT 1", (self._cursor(sink),)
            ).fetchone()

    def _advance(self, sink: str, seq: int) -> None:
        with self._lock, self._transaction():
            self._db.execute("UPDATE cursors SET seq = ? WHERE sink = ?", (seq, sink))
            self._db.execute("DELETE FROM events WHERE seq <= ?", (self._min_cursor(),))
        if self.storage_error is not None and not self._held:
            self.storage_error = None  # the disk took a write again and nothing waits in memory

    def _cursor(self, sink: str) -> int:
        return self._db.execute("SELECT seq FROM cursors WHERE sink = ?", (sink,)).fetchone()[0]

    def _min_cursor(self) -> int:
        """The slowest configured sink's cursor; rows up to it are delivered everywhere."""
        names = list(self.states)
        if not names:
            return self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0]
        marks = ",".join("?" * len(names))
        return self._db.execute(f"SELECT MIN(seq) FROM cursors WHERE sink IN ({marks})", names).fetchone()[0]

    def _enforce_bound(self) -> None:
        count = self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        excess = count - self.config.max_events
        if excess <= 0:
            return
        dropped = self._db.execute("SELECT id FROM events ORDER BY seq LIMIT ?", (excess,)).fetchall()
        self._db.execute(
            "DELETE FROM events WHERE seq IN (SELECT seq FROM events ORDER BY seq LIMIT ?)", (excess,)
        )
        self.dropped += len(dropped)
        log.error(
            "outbox full (%d events): dropped the oldest undelivered: %s",
            self.config.max_events,
            ", ".join(row[0] for row in dropped),
        )
