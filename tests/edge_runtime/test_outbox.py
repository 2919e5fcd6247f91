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
