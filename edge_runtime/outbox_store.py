"""The outbox's SQLite file: one daemon at a time, checked at start, recovered when it is damaged.

A damaged file (a torn page after a power cut on a cheap SD card, a row this version cannot read
after a downgrade, a JSON row cut short) must not keep a site down: systemd would restart the
daemon into the same traceback until someone deleted the file. Instead the file is moved aside
(never deleted: it is evidence, and rows may still be recovered from it by hand), every row that
can still be read is copied into a fresh outbox, rows that cannot are kept as dead letters, and
the caller raises an event saying so. Only an outbox that cannot be written at all stops the start.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edge_runtime.errors import ConfigError
from edge_runtime.events import Event, utc_iso

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cursors (sink TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS dead_letters (
    n INTEGER PRIMARY KEY AUTOINCREMENT, sink TEXT NOT NULL, seq INTEGER, id TEXT, body TEXT NOT NULL,
    error TEXT NOT NULL, attempts INTEGER NOT NULL, ts TEXT NOT NULL
);
"""
_COLUMNS = {
    "events": ["seq", "id", "body"],
    "cursors": ["sink", "seq"],
    "dead_letters": ["n", "sink", "seq", "id", "body", "error", "attempts", "ts"],
}
EVERY_SINK = "*"  # the sink of a dead letter no sink could read (salvaged from a damaged file)
_PROBE = 64  # sequence numbers tried one by one past a damaged page before jumping over it


def connect(path: Path, synchronous: str = "FULL") -> sqlite3.Connection:
    # synchronous=FULL: a commit survives a power cut, not only a process crash
    connection = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(f"PRAGMA synchronous={synchronous}")
    return connection


def runtime_connections(db: sqlite3.Connection, path: Path) -> sqlite3.Connection:
    """Ready ``db`` (events, FULL) for the running outbox and open its cursor connection.

    Cursors and the deletion of delivered rows commit with ``synchronous=NORMAL``: no fsync of their
    own (the next event commit's fsync of the WAL carries them), so they do not compete with the
    event commits for the disk; a power cut may roll one back, which only sends those events again
    (at least once). Neither connection checkpoints by itself: the writer does, after a commit's
    events were reported (``checkpoint``), so a checkpoint's fsyncs never delay an event.
    """
    db.execute("PRAGMA wal_autocheckpoint=0")
    cursors = connect(path, synchronous="NORMAL")
    cursors.execute("PRAGMA wal_autocheckpoint=0")
    return cursors


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


class OutboxLock:
    """An exclusive ``flock`` on ``<outbox>.lock``, held while the daemon runs.

    Two daemons on one outbox would each deliver the other's events and move each other's cursors;
    the second one is refused (exit 2) before it opens a sink. The kernel drops the lock when the
    process dies, so a ``kill -9`` leaves nothing stale behind.
    """

    def __init__(self, path: Path) -> None:
        self.path = path.with_name(path.name + ".lock")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ConfigError(f"outbox.path: cannot create {self.path} ({exc.strerror})") from exc
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(self._fd, 32, 0).decode(errors="replace").strip() or "?"
            self.release()
            raise ConfigError(
                f"outbox.path: {path} is in use by another adit daemon (pid {holder}); "
                "each daemon needs its own outbox"
            ) from exc
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None


@dataclass(frozen=True)
class Recovery:
    """What ``open_store`` did about a damaged outbox."""

    moved_to: Path
    reason: str
    salvaged: int  # rows copied into the fresh outbox, delivered again to every sink
    unreadable: int  # rows kept as dead letters (sink "*")


def open_store(path: Path) -> tuple[sqlite3.Connection, Recovery | None]:
    """The outbox database, checked; a damaged one is moved aside and its readable rows salvaged."""
    try:
        db = connect(path)
    except sqlite3.OperationalError as exc:  # cannot create or write the file: nothing to recover
        raise ConfigError(f"outbox.path: cannot open {path} ({exc})") from exc
    except sqlite3.DatabaseError as exc:
        problem: str | None = f"not a readable SQLite database ({exc})"
    else:
        try:
            problem = _damage(db)
            if problem is None:
                db.executescript(SCHEMA)  # an outbox of an older version gains its dead-letter table
                return db, None
        except sqlite3.OperationalError as exc:
            db.close()
            raise ConfigError(f"outbox.path: cannot use {path} ({exc})") from exc
        except sqlite3.DatabaseError as exc:
            problem = f"damaged ({exc})"
        db.close()
    return _recover(path, problem or "damaged")


def _damage(db: sqlite3.Connection) -> str | None:
    """Why this outbox cannot be used as it is, or None. Reads every row once (start-up only)."""
    check = [row[0] for row in db.execute("PRAGMA quick_check").fetchall()]
    if check != ["ok"]:
        return f"integrity check failed: {'; '.join(check[:3])}"
    present = set()
    for table, expected in _COLUMNS.items():
        columns = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
        if columns and columns != expected:
            return f"table {table} has columns {columns}, expected {expected}"
        if columns:
            present.add(table)
    missing = {"events", "cursors"} - present
    if present and missing:
        return f"table(s) missing: {', '.join(sorted(missing))}"
    if not present:
        return None  # a new, empty outbox
    if db.execute("SELECT COUNT(*) FROM cursors WHERE typeof(seq) != 'integer'").fetchone()[0]:
        return "a sink's cursor is not a number"
    for seq, body in db.execute("SELECT seq, body FROM events ORDER BY seq"):
        problem = _unreadable(body)
        if problem is not None:
            return f"event {seq} is unreadable ({problem})"
    return None


def _unreadable(body: object) -> str | None:
    try:
        Event.from_json(body)  # type: ignore[arg-type]
    except (ValueError, TypeError) as exc:  # cut-off JSON; a field this version does not know
        return f"{type(exc).__name__}: {exc}"
    return None


def _recover(path: Path, problem: str) -> tuple[sqlite3.Connection, Recovery]:
    log.error("outbox %s is unusable: %s; moving it aside and salvaging what can be read", path, problem)
    aside = _move_aside(path)
    readable, unreadable = _salvage(aside)
    try:
        db = connect(path)
        db.executescript(SCHEMA)
        now = utc_iso(datetime.now(UTC).timestamp())
        with transaction(db):
            db.executemany("INSERT INTO events (id, body) VALUES (?, ?)", readable)
            for seq, id_, body, why in unreadable:
                letter = {
                    "sink": EVERY_SINK,
                    "seq": seq,
                    "id": id_,
                    "attempts": 0,
                    "ts": now,
                    "error": f"unreadable in {aside.name}: {why}",
                }
                add_dead_letter(db, letter, body)
    except sqlite3.Error as exc:
        raise ConfigError(f"outbox.path: cannot create a fresh outbox at {path} ({exc})") from exc
    log.error(
        "outbox %s: fresh outbox started; %d event(s) salvaged, %d unreadable kept as dead letters; "
        "the damaged file is %s",
        path,
        len(readable),
        len(unreadable),
        aside,
    )
    return db, Recovery(aside, problem, len(readable), len(unreadable))


def add_dead_letter(
    db: sqlite3.Connection, letter: dict[str, Any], body: str, keep: int | None = None
) -> None:
    """Keep an event a sink could not take and why (in the caller's transaction); ``keep`` bounds them."""
    keys = ("sink", "seq", "id", "error", "attempts", "ts")
    db.execute(
        f"INSERT INTO dead_letters ({', '.join(keys)}, body) VALUES ({', '.join('?' * (len(keys) + 1))})",
        (*(letter[key] for key in keys), body),
    )
    if keep is not None:
        db.execute("DELETE FROM dead_letters WHERE n <= (SELECT MAX(n) FROM dead_letters) - ?", (keep,))


def insert_events(
    db: sqlite3.Connection, events: Sequence[Event], rows: int, keep: int
) -> tuple[list[tuple[int, Event]], list[str]]:
    """Append ``events`` to the ``rows`` stored and drop the oldest beyond ``keep`` (in the caller's
    transaction): each event with its sequence number, and the ids dropped."""
    committed = [(_insert(db, event), event) for event in events]
    return committed, drop_oldest(db, rows + len(committed), keep)


def _insert(db: sqlite3.Connection, event: Event) -> int:
    seq = db.execute("INSERT INTO events (id, body) VALUES (?, ?)", (event.id, event.to_json())).lastrowid
    if seq is None:  # the sqlite3 module's type allows it; an INSERT that returned has a rowid
        raise sqlite3.DatabaseError(f"event {event.id}: SQLite gave it no sequence number")
    return seq


def record_cursors(db: sqlite3.Connection, moved: dict[str, int], upto: int) -> int:
    """Write the cursors that ``moved`` and delete the rows every sink has (``seq <= upto``), in one
    transaction; the rows deleted."""
    with transaction(db):
        db.executemany("UPDATE cursors SET seq = ? WHERE sink = ?", [(s, name) for name, s in moved.items()])
        return db.execute("DELETE FROM events WHERE seq <= ?", (upto,)).rowcount


def drop_oldest(db: sqlite3.Connection, rows: int, keep: int) -> list[str]:
    """Delete the oldest events beyond ``keep`` of the ``rows`` stored (in the caller's transaction); their
    ids. The caller keeps ``rows`` as it inserts and deletes: counting the table scans every row, on every
    commit, and the table holds up to ``max_events``."""
    excess = rows - keep
    if excess <= 0:
        return []
    dropped = [row[0] for row in db.execute("SELECT id FROM events ORDER BY seq LIMIT ?", (excess,))]
    db.execute("DELETE FROM events WHERE seq IN (SELECT seq FROM events ORDER BY seq LIMIT ?)", (excess,))
    return dropped


def list_dead_letters(db: sqlite3.Connection, limit: int) -> list[dict[str, Any]]:
    """The newest dead letters first, without their bodies."""
    keys = ("sink", "seq", "id", "error", "attempts", "ts")
    rows = db.execute(f"SELECT {', '.join(keys)} FROM dead_letters ORDER BY n DESC LIMIT ?", (limit,))
    return [dict(zip(keys, row, strict=True)) for row in rows.fetchall()]


def _move_aside(path: Path) -> Path:
    """Rename the database with its WAL and shared-memory files; the name says when."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.name}.damaged-{stamp}")
    number = 1
    while aside.exists():
        number += 1
        aside = path.with_name(f"{path.name}.damaged-{stamp}-{number}")
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{path}{suffix}")
        if source.exists():
            try:
                os.replace(source, f"{aside}{suffix}")
            except OSError as exc:
                raise ConfigError(f"outbox.path: cannot move {source} aside ({exc.strerror})") from exc
    return aside


def _salvage(path: Path) -> tuple[list[tuple[str, str]], list[tuple[int, str | None, str, str]]]:
    """Rows of a damaged outbox, in order: readable (id, body) and unreadable (seq, id, body, why).

    A damaged page fails the queries that touch it; the rows around it are reached by seeking past
    it, so one torn page costs the rows on that page, not the whole queue.
    """
    readable: list[tuple[str, str]] = []
    unreadable: list[tuple[int, str | None, str, str]] = []
    try:
        db = sqlite3.connect(path, isolation_level=None)
    except sqlite3.Error:
        return readable, unreadable
    with closing(db):
        try:
            top = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
            last = top[0] if top else None
        except sqlite3.Error:
            last = None
        for seq, id_, body in _rows(db, last):
            why = _unreadable(body) if isinstance(body, str) else f"body stored as {type(body).__name__}"
            if why is None:
                readable.append((str(id_), str(body)))
            else:
                unreadable.append((seq, None if id_ is None else str(id_), str(body), why))
    return readable, unreadable


def _rows(db: sqlite3.Connection, last: int | None) -> Iterator[tuple[int, object, object]]:
    seq = 0
    while True:
        try:
            batch = db.execute(
                "SELECT seq, id, body FROM events WHERE seq > ? ORDER BY seq LIMIT 500", (seq,)
            ).fetchall()
        except sqlite3.Error:
            if last is None or seq >= last:
                return  # nowhere known to seek to
            found = _probe(db, seq, min(seq + _PROBE, last))
            if found is not None:
                yield found
                seq = found[0]
            else:
                seq += _PROBE
            continue
        if not batch:
            return
        yield from batch
        seq = batch[-1][0]


def _probe(db: sqlite3.Connection, after: int, upto: int) -> tuple[int, object, object] | None:
    for seq in range(after + 1, upto + 1):
        try:
            row = db.execute("SELECT seq, id, body FROM events WHERE seq = ?", (seq,)).fetchone()
        except sqlite3.Error:
            continue
        if row is not None:
            return row
    return None


DAEMON = "daemon"  # the "camera" of events about the daemon itself


def recovery_events(recovery: Recovery) -> list[Event]:
    """The event that tells the site its outbox was damaged and recovered (a start and its end)."""
    extra = {
        "moved_to": str(recovery.moved_to),
        "reason": recovery.reason,
        "salvaged": recovery.salvaged,
        "unreadable": recovery.unreadable,
    }
    start = Event(
        camera=DAEMON,
        type="outbox_damaged",
        label="outbox_damaged",
        score=1.0,
        frame=0,
        phase="start",
        rule="outbox",
        pts_s=0.0,
        extra=extra,
        kind="outbox",
        severity="critical",
    )
    end = Event(
        camera=DAEMON,
        type="outbox_damaged",
        label="outbox_damaged",
        score=1.0,
        frame=0,
        phase="end",
        rule="outbox",
        pts_s=0.0,
        extra={**extra, "start_id": start.id, "duration_s": 0.0},
        kind="outbox",
        severity="critical",
    )
    return [start, end]
