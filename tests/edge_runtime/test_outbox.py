"""The outbox: events survive a restart, reach each sink in order, and a dead sink blocks nobody."""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path

from edge_runtime.config.sinks import OutboxConfig
from edge_runtime.events import Event, JsonlSink, read_events
from edge_runtime.outbox import Outbox


def _event(frame: int) -> Event:
    return Event(
        camera="belt",
        type="t",
        label="red",
        score=0.9,
        frame=frame,
        phase="start",
        rule="r",
        pts_s=frame / 10,
    )


class _Switchable:
    """A sink that refuses every event until ``up`` is set, and records what it got."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.up = threading.Event()
        self.got: list[str] = []

    def deliver(self, event: Event) -> None:
        if not self.up.is_set():
            raise OSError(f"{self.name} is down")
        self.got.append(event.id)

    def close(self) -> None:
        pass


def _config(path: Path, **changes) -> OutboxConfig:
    return OutboxConfig(
        **({"path": path, "retry_min_s": 0.05, "retry_max_s": 0.2, "drain_timeout_s": 2.0} | changes)
    )


def _wait(condition, timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


def test_a_down_sink_blocks_neither_the_caller_nor_another_sink_and_resumes_in_order(tmp_path):
    down, events = _Switchable("down"), [_event(i) for i in range(20)]
    jsonl = JsonlSink(tmp_path / "events.jsonl")
    outbox = Outbox(_config(tmp_path / "outbox.sqlite"), [jsonl, down])
    for event in events:
        outbox.deliver(event)  # returns at once although "down" refuses everything
    assert _wait(lambda: outbox.depth("jsonl") == 0)
    assert [e.id for e in read_events(tmp_path / "events.jsonl")] == [e.id for e in events]
    assert outbox.depth("down") == 20 and outbox.states["down"].failures > 0
    assert not outbox.states["down"].healthy
    down.up.set()
    assert _wait(lambda: len(down.got) == 20)
    assert down.got == [e.id for e in events] and outbox.states["down"].healthy
    outbox.close()
    jsonl.close()


def test_undelivered_events_survive_a_restart_and_are_delivered_once_the_sink_returns(tmp_path):
    down, events = _Switchable("hook"), [_event(i) for i in range(5)]
    outbox = Outbox(_config(tmp_path / "outbox.sqlite", drain_timeout_s=0.0), [down])
    for event in events:
        outbox.deliver(event)
    outbox.close()
    assert down.got == []
    back = _Switchable("hook")
    back.up.set()
    outbox = Outbox(_config(tmp_path / "outbox.sqlite"), [back])
    assert _wait(lambda: len(back.got) == 5)
    outbox.close()
    assert back.got == [e.id for e in events]
    again = _Switchable("hook")
    again.up.set()
    outbox = Outbox(_config(tmp_path / "outbox.sqlite"), [again])  # delivered rows are gone
    outbox.close()
    assert again.got == []


def test_the_bound_drops_the_oldest_and_counts_them(tmp_path, caplog):
    down, events = _Switchable("down"), [_event(i) for i in range(8)]
    outbox = Outbox(_config(tmp_path / "outbox.sqlite", max_events=5, drain_timeout_s=0.0), [down])
    for event in events:
        outbox.deliver(event)
    assert outbox.dropped == 3 and outbox.depth() == 5
    assert all(e.id in caplog.text for e in events[:3]) and "outbox full" in caplog.text
    down.up.set()
    outbox.close()
    back = _Switchable("down")
    back.up.set()
    outbox = Outbox(_config(tmp_path / "outbox.sqlite"), [back])
    assert _wait(lambda: len(back.got) == 5)
    outbox.close()
    assert back.got == [e.id for e in events[3:]]


def test_the_bound_holds_exactly_after_drops_batches_deliveries_and_a_restart(tmp_path):
    """The outbox keeps its row count as it commits and deletes (no COUNT(*) per commit): a count that
    drifted from the file's would drop events it should keep, or keep more than ``max_events``."""
    path = tmp_path / "outbox.sqlite"

    def stored() -> int:  # the truth: what the file holds
        with closing(sqlite3.connect(path)) as db:
            return db.execute("SELECT COUNT(*) FROM events").fetchone()[0]

    down, events = _Switchable("hook"), [_event(i) for i in range(30)]
    outbox = Outbox(_config(path, max_events=5, drain_timeout_s=0.0), [down])
    for event in events[:8]:
        outbox.deliver(event)
    assert (outbox.dropped, stored()) == (3, 5)
    durable = threading.Event()
    outbox.submit(events[8:11], durable.set)  # one commit of three over a full outbox
    assert durable.wait(20) and (outbox.dropped, stored()) == (6, 5)
    down.up.set()  # delivered: the rows every sink has are deleted
    assert _wait(lambda: stored() == 0 and outbox.depth() == 0)
    down.up.clear()
    for event in events[11:15]:
        outbox.deliver(event)
    assert (outbox.dropped, stored()) == (6, 4)  # counted the deletions: nothing dropped
    outbox.close()
    outbox = Outbox(_config(path, max_events=5, drain_timeout_s=0.0), [down])  # reopened from disk
    outbox.deliver(events[15])
    assert (outbox.dropped, stored()) == (0, 5)
    for event in events[16:18]:
        outbox.deliver(event)
    assert (outbox.dropped, stored()) == (2, 5)
    outbox.close()
    back = _Switchable("hook")
    back.up.set()
    outbox = Outbox(_config(path), [back])
    assert _wait(lambda: len(back.got) == 5)
    outbox.close()
    assert back.got == [e.id for e in events[13:18]] and stored() == 0


class _Budget:
    """A sink that takes as many events as it is allowed, then refuses (and counts the refusals)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.budget = 0
        self.refused = 0
        self._lock = threading.Lock()

    def allow(self, count: int) -> None:
        with self._lock:
            self.budget += count

    def deliver(self, event: Event) -> None:
        with self._lock:
            if not self.budget:
                self.refused += 1
                raise OSError(f"{self.name} is down")
            self.budget -= 1

    def close(self) -> None:
        pass


def _settle(sink: _Budget, outbox: Outbox, count: int) -> None:
    """Let ``sink`` take ``count`` more events; wait until it is refused again or caught up (cursor still)."""
    refused, newest = sink.refused, outbox.recent_events()[-1][0]
    sink.allow(count)
    assert _wait(
        lambda: sink.budget == 0 and (sink.refused > refused or outbox.cursors()[sink.name] == newest)
    )


def _depths_and_truth(outbox: Outbox, path: Path) -> tuple[dict[str, int], dict[str, int]]:
    """``depth`` per sink and of the slowest, and the file's COUNT(*) above the same cursors."""
    cursors = outbox.cursors()
    cursors["slowest"] = min(cursors.values())
    with closing(sqlite3.connect(path)) as db:
        truth = {
            name: db.execute("SELECT COUNT(*) FROM events WHERE seq > ?", (cursor,)).fetchone()[0]
            for name, cursor in cursors.items()
        }
    depths = {name: outbox.depth(None if name == "slowest" else name) for name in cursors}
    return depths, truth


def test_depth_is_the_count_above_each_cursor_through_deliveries_drops_and_a_reopen(tmp_path):
    """``depth`` is kept, not counted (every /status poll reads it): it must still be the file's count."""
    path, events = tmp_path / "outbox.sqlite", [_event(i) for i in range(20)]
    a, b = _Budget("a"), _Budget("b")
    outbox = Outbox(_config(path, max_events=10, drain_timeout_s=0.0), [a, b])
    for event in events[:6]:
        outbox.deliver(event)
    assert _depths_and_truth(outbox, path) == ({"a": 6, "b": 6, "slowest": 6},) * 2
    _settle(a, outbox, 1)
    _settle(b, outbox, 3)  # cursors 1 and 3; the row both have is deleted
    assert _depths_and_truth(outbox, path) == ({"a": 5, "b": 3, "slowest": 5},) * 2
    for event in events[6:12]:  # 11 rows over a bound of 10: seq 2 (undelivered to a) is dropped
        outbox.deliver(event)
    assert outbox.dropped == 1
    assert _depths_and_truth(outbox, path) == ({"a": 10, "b": 9, "slowest": 10},) * 2
    _settle(a, outbox, 4)  # a takes 3, 4, 5, 6: cursors 6 and 3
    assert _depths_and_truth(outbox, path) == ({"a": 6, "b": 9, "slowest": 9},) * 2
    outbox.close()
    a, b = _Budget("a"), _Budget("b")
    outbox = Outbox(_config(path, max_events=10, drain_timeout_s=0.0), [a, b])  # reopened from disk
    assert _depths_and_truth(outbox, path) == ({"a": 6, "b": 9, "slowest": 9},) * 2
    for event in events[12:14]:  # 11 rows again: seq 4 is dropped
        outbox.deliver(event)
    assert _depths_and_truth(outbox, path) == ({"a": 8, "b": 10, "slowest": 10},) * 2
    _settle(b, outbox, 10)
    _settle(a, outbox, 8)
    assert _depths_and_truth(outbox, path) == ({"a": 0, "b": 0, "slowest": 0},) * 2
    outbox.close()
    outbox = Outbox(_config(path, max_events=10, drain_timeout_s=0.0), [a, b])  # an empty file, cursors at 14
    assert _depths_and_truth(outbox, path) == ({"a": 0, "b": 0, "slowest": 0},) * 2
    outbox.deliver(events[14])
    assert _depths_and_truth(outbox, path) == ({"a": 1, "b": 1, "slowest": 1},) * 2
    outbox.close()


def test_depth_stays_exact_over_missing_sequence_numbers(tmp_path):
    """SQLite may skip sequence numbers, and a file may come with rows missing in the middle: the
    depth above a cursor must not count them (nor keep them once every sink is past)."""
    path, events = tmp_path / "outbox.sqlite", [_event(i) for i in range(10)]
    hook, slow = _Budget("hook"), _Budget("slow")
    outbox = Outbox(_config(path, drain_timeout_s=0.0), [hook, slow])
    for event in events[:6]:
        outbox.deliver(event)
    outbox.close()
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("DELETE FROM events WHERE seq = 3")  # a file with a hole
        db.execute("UPDATE sqlite_sequence SET seq = seq + 5 WHERE name = 'events'")  # the next seq jumps
    hook, slow = _Budget("hook"), _Budget("slow")  # slow keeps every row in the file
    outbox = Outbox(_config(path, drain_timeout_s=0.0), [hook, slow])
    assert _depths_and_truth(outbox, path) == ({"hook": 5, "slow": 5, "slowest": 5},) * 2
    for event in events[6:8]:  # seqs 12 and 13
        outbox.deliver(event)
    # stored: 1 2 4 5 6 12 13; hook's cursor moves to 1, 2 (the hole next), 5, 6 (the jump next) and 13
    for allowed, depth in [(1, 6), (1, 5), (2, 3), (1, 2), (2, 0)]:
        _settle(hook, outbox, allowed)
        assert _depths_and_truth(outbox, path) == ({"hook": depth, "slow": 7, "slowest": 7},) * 2
    _settle(slow, outbox, 2)
    assert _depths_and_truth(outbox, path) == ({"hook": 0, "slow": 5, "slowest": 5},) * 2
    assert outbox._stored.holes == [(3, 3), (7, 11)]  # the next seq is missing: kept
    _settle(slow, outbox, 2)  # every sink is past the hole: the rows up to 5 are deleted
    assert _depths_and_truth(outbox, path) == ({"hook": 0, "slow": 3, "slowest": 3},) * 2
    assert outbox._stored.holes == [(7, 11)]
    outbox.close()


def test_depth_reads_no_row(tmp_path):
    """A poll of a backlog of millions must not scan them while holding the lock the writer needs."""
    sink = _Budget("hook")
    outbox = Outbox(_config(tmp_path / "outbox.sqlite", drain_timeout_s=0.0), [sink])
    for event in [_event(i) for i in range(3)]:
        outbox.deliver(event)
    statements: list[str] = []
    outbox._db.set_trace_callback(statements.append)
    assert (outbox.depth(), outbox.depth("hook")) == (3, 3)
    outbox._db.set_trace_callback(None)
    assert statements == []
    outbox.close()
