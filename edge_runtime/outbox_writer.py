"""The outbox's group commit: producers queue events, one writer thread makes them durable.

A commit with ``synchronous=FULL`` waits for an fsync: milliseconds on an SSD, tens on an SD card or
a busy disk. On the inference thread that wait sat in every event's capture-to-event latency, once
per event. Here a producer appends its events to a bounded in-memory queue and returns; the writer
takes everything queued, commits it in one transaction (one fsync for all of it) and only then
runs each batch's ``on_durable``: an event counts as raised once it is on disk and the sinks have
been woken, never before, so a crash after that point loses nothing (a crash before it loses only
events nobody was told about).

Back-pressure: the queue holds at most ``limit`` events. A producer that finds it full waits for
the writer (counted in ``waits``/``waited_s`` and logged), so a disk slower than the event rate
slows inference visibly instead of growing memory or dropping events.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from edge_runtime.events import Event, Sink

log = logging.getLogger(__name__)

QUEUE_LIMIT = 1000  # events waiting for the writer before producers wait (a burst of many cameras)


@dataclass
class Batch:
    """One producer's events, committed together or held together (never split)."""

    events: list[Event]
    on_durable: Callable[[], None] | None = None
    accepted: threading.Event = field(default_factory=threading.Event)  # committed, or held in memory


class GroupWriter:
    """A bounded queue of batches and the thread that hands them to ``write`` in groups.

    ``write(batches)`` is called on the writer thread with everything queued (in order), and with
    an empty list every ``retry_s`` while ``pending()`` says earlier events still wait for the disk.
    Then each ``follower`` (an in-process sink that must not block) is handed the events, in order.
    """

    def __init__(
        self,
        write: Callable[[list[Batch]], None],
        pending: Callable[[], bool],
        followers: Sequence[Sink] = (),
        *,
        limit: int = QUEUE_LIMIT,
        retry_s: float = 1.0,
        name: str = "outbox-writer",
    ) -> None:
        self.limit = limit
        self.waits = 0  # producers that found the queue full and waited for the writer
        self.waited_s = 0.0
        self._write, self._pending, self._retry_s = write, pending, retry_s
        self._followers = list(followers)
        self._queue: deque[Batch] = deque()
        self._queued = 0  # events in the queue
        self._cond = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def queued(self) -> int:
        """Events handed over and not yet taken by the writer."""
        with self._cond:
            return self._queued

    def submit(self, events: Sequence[Event], on_durable: Callable[[], None] | None = None) -> Batch:
        """Queue ``events`` (waiting while the queue is full); ``on_durable`` runs once they are committed."""
        batch = Batch(list(events), on_durable)
        with self._cond:
            if self._queued and self._queued + len(batch.events) > self.limit and not self._closing:
                started = time.monotonic()
                self.waits += 1
                log.warning(
                    "outbox writer behind: %d event(s) queued (limit %d); the caller waits for the disk",
                    self._queued,
                    self.limit,
                )
                while self._queued and self._queued + len(batch.events) > self.limit and not self._closing:
                    self._cond.wait()
                self.waited_s += time.monotonic() - started
            if self._closing:  # the writer may have taken its last batch: refuse rather than lose
                raise RuntimeError(f"the outbox is closed; {len(batch.events)} event(s) not accepted")
            self._queue.append(batch)
            self._queued += len(batch.events)
            self._cond.notify_all()
        return batch

    def close(self, timeout_s: float | None = None) -> None:
        """Commit (or hold) everything queued, then stop the thread."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout_s)

    def _take(self) -> tuple[list[Batch], bool]:
        """Everything queued (waiting for it, or for a retry of what the disk refused); whether to stop."""
        with self._cond:
            if not self._queue and not self._closing:
                self._cond.wait(self._retry_s if self._pending() else None)
            batches = list(self._queue)
            self._queue.clear()
            self._queued = 0
            self._cond.notify_all()  # room for the producers waiting on a full queue
            return batches, self._closing and not batches

    def _run(self) -> None:
        while True:
            batches, stop = self._take()
            try:
                self._write(batches)
            except BaseException:  # noqa: BLE001 - the thread's edge: never end with events left behind
                log.exception("outbox writer: unexpected error; the events stay held in memory")
            for event in (event for batch in batches for event in batch.events):
                for follower in self._followers:
                    try:
                        follower.deliver(event)
                    except Exception:  # noqa: BLE001 - an in-process view must not stop the commits
                        log.exception("follower %s failed on event %s", follower.name, event.id)
            for batch in batches:
                batch.accepted.set()
            if stop:
                return
