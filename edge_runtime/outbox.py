"""The durable outbox: every event is committed to SQLite (WAL) before any sink sees it.

Producers do not wait for the disk: ``submit`` queues events for the writer thread's group commit
(``outbox_writer``), which then wakes the sinks and runs ``on_durable``; ``deliver`` waits for it.

One delivery thread per sink reads the events after its own cursor, in order, and moves the cursor
once the sink has the event, so an outage, a restart or a power cut loses nothing (at least once;
receivers dedupe by event id). Rows every sink has are deleted; beyond ``max_events`` the oldest
undelivered rows are dropped, counted and logged with their ids, so the disk never fills up.

A delivery loop never ends on an error (it catches everything at its edge). An ``OSError`` is the
receiver or the way to it (refused, timeout, HTTP 5xx, a redirect): the event is retried with
back-off for as long as it takes. Anything else is this event (HTTP 400, an invalid topic, an
unreadable row): after ``max_attempts`` it goes to the dead-letter table with its error and the
queue moves on. ``undelivered_s``/``untried_s`` tell /healthz and the watchdog about no progress.

Cursors live in memory and are written after each delivery; when the disk refuses the write,
delivery goes on and the write is retried with back-off, so a stop or crash re-sends only what
was delivered since the last recorded cursor, once. Events the disk refuses are held in memory in
order (``storage_error``); a damaged file is moved aside and salvaged at start (``outbox_store``).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import nullcontext, suppress
from datetime import UTC, datetime
from typing import Any

from edge_runtime.backoff import Backoff
from edge_runtime.config.sinks import OutboxConfig
from edge_runtime.events import Event, Sink, utc_iso
from edge_runtime.liveness import Liveness
from edge_runtime.outbox_rows import StoredRows
from edge_runtime.outbox_state import SinkState, Step
from edge_runtime.outbox_store import (
    OutboxLock,
    add_dead_letter,
    insert_events,
    list_dead_letters,
    open_store,
    record_cursors,
    recovery_events,
    runtime_connections,
    transaction,
)
from edge_runtime.outbox_writer import QUEUE_LIMIT, Batch, GroupWriter
from edge_runtime.timing import StageTimers

log = logging.getLogger(__name__)

RECENT_EVENTS = 1000  # kept in memory for the dashboard's events page
IDLE_WAIT_S = 1.0  # an idle loop looks again this often (new events wake it at once)
CHECKPOINT_EVERY = 100  # group commits between two WAL checkpoints (with the cursors' about 1000 pages)


class Outbox:
    """Sink-like (``deliver``/``close``) front of the durable queue; owns the sinks it feeds."""

    name = "outbox"

    def __init__(
        self,
        config: OutboxConfig,
        sinks: Sequence[Sink],
        liveness: Liveness | None = None,
        *,
        lock: OutboxLock | None = None,
        clock: Callable[[], float] = time.monotonic,
        followers: Sequence[Sink] = (),
        timers: StageTimers | None = None,
        queue_limit: int = QUEUE_LIMIT,
    ) -> None:
        """``followers``: see ``GroupWriter`` (the control outputs' tally); ``timers`` get stage ``commit``."""
        self.config = config
        self.sinks = list(sinks)
        self.dropped = 0
        self.storage_error: str | None = None  # why the last write failed; None once writes work
        self.storage_failures = 0
        self._held: deque[tuple[Event, Callable[[], None] | None]] = deque()  # the disk refused them
        self._timers = timers
        self._commits = 0  # since the last checkpoint
        self._liveness = liveness
        self._clock = clock
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._drain_deadline: float | None = None
        self._own_lock = lock is None
        self._file_lock = lock or OutboxLock(config.path)
        try:
            self._db, self.recovery = open_store(config.path)
            self._cursor_db = runtime_connections(self._db, config.path)
        except BaseException:
            if self._own_lock:
                self._file_lock.release()
            raise
        now = clock()
        self.states = {sink.name: SinkState(sink.name, progress_at=now, due_at=now) for sink in self.sinks}
        self._wake = {sink.name: threading.Event() for sink in self.sinks}
        for sink in self.sinks:
            self._db.execute("INSERT OR IGNORE INTO cursors (sink, seq) VALUES (?, 0)", (sink.name,))
        stored = dict(self._db.execute("SELECT sink, seq FROM cursors").fetchall())
        self._cursor = {name: stored[name] for name in self.states}  # may run ahead of the disk
        self._recorded = dict(self._cursor)  # what the disk has
        self._record_after = 0.0  # back-off of cursor writes the disk refused
        self._record_backoff = Backoff(config.retry_min_s, config.retry_max_s)
        self._attempts: dict[str, tuple[int, int]] = {}  # sink -> (seq, failed attempts of that row)
        self._stored = StoredRows.read(self._db)  # then kept as rows come and go (_lock)
        for sink, count in self._db.execute("SELECT sink, COUNT(*) FROM dead_letters GROUP BY sink"):
            if sink in self.states:
                self.states[sink].dead_letters = count
        # the newest events with their sequence numbers, for the dashboard (open_store parsed every row)
        rows = self._db.execute("SELECT seq, body FROM events ORDER BY seq DESC LIMIT ?", (RECENT_EVENTS,))
        recent = [(seq, Event.from_json(body)) for seq, body in reversed(rows.fetchall())]
        self.recent = deque(recent, RECENT_EVENTS)
        pending = self.depth()
        if pending:
            log.info("outbox %s: %d undelivered event(s) from an earlier run", config.path, pending)
        self.writer = GroupWriter(
            self._write, lambda: bool(self.held), followers, limit=queue_limit, retry_s=IDLE_WAIT_S
        )
        if self.recovery is not None:
            for event in recovery_events(self.recovery):
                self.deliver(event)
        self._threads = {
            sink.name: threading.Thread(
                target=self._deliver_loop, args=(sink,), name=f"sink-{sink.name}", daemon=True
            )
            for sink in self.sinks
        }
        for thread in self._threads.values():
            thread.start()

    # --- accepting events (the inference and machine threads) ----------------------------------

    def deliver(self, event: Event) -> None:
        """Commit ``event`` and wake the sinks; on return it is durable (unless the disk refuses: held)."""
        self.writer.submit([event]).accepted.wait()

    def submit(self, events: Sequence[Event], on_durable: Callable[[], None] | None = None) -> None:
        """Queue ``events`` (waiting only while the queue is full); see ``GroupWriter.submit``."""
        self.writer.submit(events, on_durable)

    @property
    def held(self) -> int:
        """Events accepted while the disk refused them, waiting in memory for space."""
        return len(self._held)  # len() of a deque is atomic

    def _write(self, batches: list[Batch]) -> None:
        """The writer thread: the new batches after what is held, one transaction; then wake the sinks."""
        with self._lock:
            for batch in batches:
                last = len(batch.events) - 1
                self._held.extend(
                    (e, batch.on_durable if i == last else None) for i, e in enumerate(batch.events)
                )
            durable = self._commit_held() if self._held else None
        if durable is None:
            return  # nothing new, or the disk refused: held, retried by the writer
        for wake in self._wake.values():
            wake.set()
        for on_durable in durable:
            on_durable()
        self._commits = (self._commits + 1) % CHECKPOINT_EVERY
        with self._lock, suppress(sqlite3.Error):  # a refused one is retried CHECKPOINT_EVERY commits on
            if not self._commits:  # after the events were reported: never in their latency
                self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _commit_held(self) -> list[Callable[[], None]] | None:
        """Commit every held event in one transaction; the on_durable callbacks now due (None: refused)."""
        started = time.perf_counter()
        try:
            with transaction(self._db):
                held = [event for event, _ in self._held]
                committed, dropped = insert_events(self._db, held, self._stored.rows, self.config.max_events)
        except sqlite3.Error as exc:  # SQLITE_FULL, an I/O error: keep the events, report, retry later
            self._storage_failed("cannot commit; holding events in memory", exc)
            self._bound_held()
            return None
        self._stored.added([seq for seq, _ in committed])
        self._stored.removed(len(dropped))
        if self._timers is not None:
            self._timers.record("commit", (time.perf_counter() - started) * 1000.0)
        if dropped:
            self.dropped += len(dropped)
            log.error(
                "outbox full (%d events): dropped the oldest undelivered: %s",
                self.config.max_events,
                ", ".join(dropped),
            )
        if self.storage_error is not None:
            log.info("outbox %s: committing again (%d held written)", self.config.path, len(self._held))
        self.recent.extend(committed)
        due = [on_durable for _, on_durable in self._held if on_durable is not None]
        self._held.clear()
        self.storage_error = None
        return due

    def _storage_failed(self, what: str, exc: sqlite3.Error) -> None:
        self.storage_failures += 1
        if self.storage_error is None:
            log.error("outbox %s: %s (%s)", self.config.path, what, exc)
        self.storage_error = str(exc)

    def _bound_held(self) -> None:
        excess = len(self._held) - self.config.max_events
        if excess > 0:
            dropped = [self._held.popleft()[0].id for _ in range(excess)]
            self.dropped += excess
            log.error("outbox full in memory too: dropped the oldest held event(s): %s", ", ".join(dropped))

    # --- what the dashboard and the watchdog read ----------------------------------------------

    def depth(self, sink: str | None = None) -> int:
        """Events not yet delivered to ``sink`` (or to the slowest sink)."""
        with self._lock:
            cursor = self._cursor[sink] if sink else min(self._cursor.values(), default=None)
            if cursor is None:
                return 0  # no sink: nothing waits for anyone
            return self._stored.above(cursor)

    def recent_events(self) -> list[tuple[int, Event]]:
        """The newest events (oldest first) with their sequence numbers, this run's and older undelivered."""
        with self._lock:
            return list(self.recent)

    def cursors(self) -> dict[str, int]:
        """Each sink's cursor: it has every event up to this sequence number (dead letters aside)."""
        with self._lock:
            return dict(self._cursor)

    def dead_letters(self, limit: int = 20) -> list[dict[str, Any]]:
        """The newest dead letters, newest first: which sink, which event, why, after how many attempts."""
        with self._lock:
            return list_dead_letters(self._db, limit)

    def undelivered_s(self, sink: str) -> float:
        """How long ``sink`` has delivered nothing while events waited for it (0 when it is caught up)."""
        if not self.depth(sink):
            return 0.0
        return max(0.0, self._clock() - self.states[sink].progress_at)

    def untried_s(self, sink: str) -> float:
        """How long ``sink``'s loop is overdue for its next attempt while events wait: dead or wedged."""
        state = self.states[sink]
        if self._closing.is_set() or state.busy or not self.depth(sink):
            return 0.0
        return max(0.0, self._clock() - state.due_at)

    # --- shutting down -------------------------------------------------------------------------

    def close(self) -> None:
        """Commit the queue, let the sinks catch up for ``drain_timeout_s``, stop; the rest waits."""
        self.writer.close()  # everything queued committed (or held), one last retry of what is held
        self._drain_deadline = self._clock() + self.config.drain_timeout_s
        self._closing.set()
        for wake in self._wake.values():
            wake.set()
        for thread in self._threads.values():
            thread.join(self.config.drain_timeout_s + self.config.retry_max_s)
        self._write([])  # the writer has stopped: one more try for what the disk refused
        if self._held:
            log.error(
                "outbox %s: still cannot commit (%s); %d event(s) lost at exit: %s",
                self.config.path,
                self.storage_error,
                len(self._held),
                ", ".join(e.id for e, _ in self._held),
            )
        self._record_cursors(final=True)
        unrecorded = {n: c - self._recorded[n] for n, c in self._cursor.items() if c != self._recorded[n]}
        if unrecorded:  # re-sent once at the next start; receivers dedupe by id
            log.error(
                "outbox %s: the disk refused to record deliveries (%s); events past each sink's "
                "recorded cursor are sent again at the next start: %s",
                self.config.path,
                self.storage_error,
                unrecorded,
            )
        left = self.depth() if self.sinks else 0
        if left:
            log.warning("outbox: %d event(s) not yet delivered everywhere; kept for the next start", left)
        with self._lock:
            self._cursor_db.close()
            self._db.close()  # the last connection: SQLite checkpoints and removes the WAL
        if self._own_lock:
            self._file_lock.release()

    # --- the delivery loop of one sink (its own thread) ----------------------------------------

    def _deliver_loop(self, sink: Sink) -> None:
        state, wake = self.states[sink.name], self._wake[sink.name]
        backoff = Backoff(
            self.config.retry_min_s, self.config.retry_max_s
        )  # jitter: many devices, one broker
        while True:
            state.due_at = self._clock()
            try:
                step = self._step(sink)
            except BaseException as exc:  # noqa: BLE001 - the loop's edge: nothing ends it, not sys.exit
                log.exception("sink %s: delivery loop error; retrying", sink.name)
                self._failed(state, exc)
                step = Step.FAILED
            if step is Step.DONE or (step is Step.FAILED and self._drain_deadline is not None):
                return  # stopping: no retries; the event stays in the outbox for the next start
            if step is Step.MOVED:
                backoff.reset()
                continue
            if step is Step.FAILED:
                pause = backoff.next()
                state.due_at = self._clock() + pause
                self._closing.wait(pause)  # new events do not cut a back-off short
                continue
            state.due_at = self._clock() + IDLE_WAIT_S
            wake.wait(IDLE_WAIT_S)
            wake.clear()
            self._record_cursors()

    def _step(self, sink: Sink) -> Step:
        state = self.states[sink.name]
        row = self._next(sink.name)
        if row is None:
            state.progress_at = self._clock()
            return Step.DONE if self._drain_deadline is not None else Step.IDLE
        if self._drain_deadline is not None and self._clock() > self._drain_deadline:
            return Step.DONE
        seq, event_id, body = row
        try:
            event = Event.from_json(body)
            state.busy = True
            with self._liveness.busy(f"sink:{sink.name}") if self._liveness else nullcontext():
                sink.deliver(event)
        except OSError as exc:  # the receiver or the way to it: this event is retried until it works
            self._failed(state, exc)
            return Step.FAILED
        except Exception as exc:  # noqa: BLE001 - this event itself: bounded attempts, then a dead letter
            self._failed(state, exc)
            head, attempts = self._attempts.get(sink.name, (seq, 0))
            attempts = attempts + 1 if head == seq else 1
            self._attempts[sink.name] = (seq, attempts)
            if attempts >= self.config.max_attempts and self._dead_letter(sink.name, seq, event_id, body):
                return Step.MOVED
            return Step.FAILED
        finally:
            state.busy = False
        state.delivered += 1
        state.progress_at = self._clock()
        if not state.healthy:
            log.info("sink %s: delivering again", sink.name)
        state.healthy, state.last_error = True, None
        self._advance(sink.name, seq)
        return Step.MOVED

    def _failed(self, state: SinkState, exc: BaseException) -> None:
        state.failures += 1
        state.healthy = False
        state.last_error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, OSError) else str(exc)
        log.warning("sink %s: delivery failed (%s)", state.name, state.last_error)

    def _dead_letter(self, sink: str, seq: int, event_id: str, body: str) -> bool:
        """Move the row out of ``sink``'s way, keeping it with its error; False if the disk refused."""
        state = self.states[sink]
        attempts = self._attempts.get(sink, (seq, 0))[1]
        letter = {
            "sink": sink,
            "seq": seq,
            "id": event_id,
            "error": state.last_error,
            "attempts": attempts,
            "ts": utc_iso(datetime.now(UTC).timestamp()),
        }
        try:
            with self._lock, transaction(self._db):
                add_dead_letter(self._db, letter, body, keep=self.config.max_events)
        except sqlite3.Error as error:
            self._storage_failed("cannot record a dead letter", error)
            return False
        log.error(
            "sink %s: event %s moved to the dead-letter table after %d attempt(s): %s",
            sink,
            event_id,
            attempts,
            letter["error"],
        )
        state.dead_letters += 1
        state.last_dead_letter = letter
        state.progress_at = self._clock()
        self._attempts.pop(sink, None)
        self._advance(sink, seq)
        return True

    def _next(self, sink: str) -> tuple[int, str, str] | None:
        with self._lock:
            return self._db.execute(
                "SELECT seq, id, body FROM events WHERE seq > ? ORDER BY seq LIMIT 1", (self._cursor[sink],)
            ).fetchone()

    def _advance(self, sink: str, seq: int) -> None:
        with self._lock:
            self._cursor[sink] = seq
        self._record_cursors()

    def _record_cursors(self, *, final: bool = False) -> None:
        """Write the cursors that moved; when the disk refuses, back off (delivery goes on from memory)."""
        with self._lock:
            moved = {name: seq for name, seq in self._cursor.items() if seq != self._recorded[name]}
            if not moved or (not final and self._clock() < self._record_after):
                return
            try:  # synchronous=NORMAL: see runtime_connections
                upto = min(self._cursor.values())
                deleted = record_cursors(self._cursor_db, moved, upto)
            except sqlite3.Error as exc:
                self._storage_failed("cannot record deliveries", exc)
                self._record_after = self._clock() + self._record_backoff.next()
                return
            self._recorded.update(moved)
            self._stored.removed(deleted, upto)
            self._record_backoff.reset()
            if self.storage_error is not None and not self._held:
                self.storage_error = None  # the disk took a write again and nothing waits in memory
