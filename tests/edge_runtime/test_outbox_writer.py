"""The outbox's group commit: off the producer's thread, yet durable when it says so, in order, and
bounded with visible back-pressure."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from edge_runtime.config.sinks import OutboxConfig
from edge_runtime.events import Event
from edge_runtime.inference import Pipeline
from edge_runtime.outbox import Outbox
from edge_runtime.rules import RuleSet
from edge_runtime.timing import StageTimers


def _event(camera: str, frame: int) -> Event:
    return Event(
        camera=camera, type="t", label="red", score=0.9, frame=frame, phase="start", rule="r", pts_s=0.0
    )


def _config(path: Path, **changes) -> OutboxConfig:
    return OutboxConfig(
        **({"path": path, "retry_min_s": 0.05, "retry_max_s": 0.2, "drain_timeout_s": 5.0} | changes)
    )


def _wait(condition, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()


class _Recorder:
    """A sink that records (camera, frame) of what it gets; refuses every ``refuse_every``-th attempt."""

    def __init__(self, name: str, refuse_every: int = 0) -> None:
        self.name = name
        self.refuse_every = refuse_every
        self.attempts = 0
        self.got: list[tuple[str, int]] = []

    def deliver(self, event: Event) -> None:
        self.attempts += 1
        if self.refuse_every and self.attempts % self.refuse_every == 0:
            raise OSError(f"{self.name}: flaky")
        self.got.append((event.camera, event.frame))

    def close(self) -> None:
        pass


class _Gate:
    """A follower that holds the writer thread (after a commit) until ``open`` is set."""

    name = "gate"

    def __init__(self) -> None:
        self.open = threading.Event()
        self.entered = threading.Event()
        self.seen: list[int] = []

    def deliver(self, event: Event) -> None:
        self.entered.set()
        self.open.wait(60)
        self.seen.append(event.frame)

    def close(self) -> None:
        pass


def _rows(path: Path) -> list[tuple[str, int]]:
    with sqlite3.connect(path) as db:
        bodies = db.execute("SELECT body FROM events ORDER BY seq").fetchall()
    return [(e.camera, e.frame) for e in (Event.from_json(body) for (body,) in bodies)]


def test_submit_returns_before_the_commit_and_on_durable_runs_once_the_rows_are_on_disk(tmp_path):
    path = tmp_path / "outbox.sqlite"
    gate, timers = _Gate(), StageTimers()
    outbox = Outbox(_config(path), [], followers=[gate], timers=timers)
    durable: list[list[tuple[str, int]]] = []
    try:
        outbox.submit([_event("a", 0)])  # the writer commits it, then waits in the gate
        assert gate.entered.wait(30)
        # the writer is busy: these two batches wait in the queue; submit returned without the disk
        for frame in (1, 2):
            outbox.submit([_event("a", frame)], lambda: durable.append(_rows(path)))
        assert outbox.writer.queued == 2 and durable == []
        gate.open.set()
        assert _wait(lambda: len(durable) == 2)
        # both taken in one group: each callback saw every row of the group committed
        assert durable[0] == durable[1] == [("a", 0), ("a", 1), ("a", 2)]
        assert timers.stats("commit") is not None
    finally:
        gate.open.set()
        outbox.close()


def test_order_per_sink_holds_with_producers_on_several_threads_and_a_flaky_sink(tmp_path):
    steady, flaky = _Recorder("steady"), _Recorder("flaky", refuse_every=3)
    outbox = Outbox(_config(tmp_path / "outbox.sqlite"), [steady, flaky], queue_limit=8)
    per_camera = 60

    def produce(camera: str, grouped: bool) -> None:
        for frame in range(0, per_camera, 3 if grouped else 1):
            if grouped:  # the inference thread: a frame's events as one batch, never waiting for the disk
                outbox.submit([_event(camera, f) for f in range(frame, frame + 3)])
            else:  # a machine thread: one event at a time, durable on return
                outbox.deliver(_event(camera, frame))

    producers = [
        threading.Thread(target=produce, args=(camera, grouped))
        for camera, grouped in (("cam1", True), ("cam2", True), ("machine", False))
    ]
    try:
        for thread in producers:
            thread.start()
        for thread in producers:
            thread.join(60)
        assert _wait(lambda: len(steady.got) == len(flaky.got) == 3 * per_camera)
    finally:
        outbox.close()
    committed = _rows(tmp_path / "outbox.sqlite")
    assert committed == []  # delivered everywhere: rows deleted
    for sink in (steady, flaky):
        for camera in ("cam1", "cam2", "machine"):
            assert [f for c, f in sink.got if c == camera] == list(range(per_camera))
    # every sink sees one order: the commit order, interleaving the producers as the writer took them
    assert steady.got == flaky.got


def test_a_full_queue_makes_the_producer_wait_visibly_and_loses_nothing(tmp_path, caplog):
    path = tmp_path / "outbox.sqlite"
    gate = _Gate()
    outbox = Outbox(_config(path), [], followers=[gate], queue_limit=4)
    try:
        outbox.submit([_event("a", 0)])
        assert gate.entered.wait(30)  # the writer is held: the queue fills
        for frame in range(1, 5):
            outbox.submit([_event("a", frame)])
        assert outbox.writer.queued == 4 and outbox.writer.waits == 0
        done = threading.Event()

        def one_more() -> None:
            outbox.submit([_event("a", 5)])
            done.set()

        blocked = threading.Thread(target=one_more)
        blocked.start()
        assert _wait(lambda: outbox.writer.waits == 1)  # counted while it waits
        assert not done.is_set() and outbox.writer.queued == 4  # bounded: not queued beyond the limit
        assert "outbox writer behind" in caplog.text
        gate.open.set()
        assert done.wait(30)
        blocked.join(30)
        assert _wait(lambda: outbox.writer.queued == 0 and gate.seen == list(range(6)))
        assert outbox.writer.waited_s > 0.0
    finally:
        gate.open.set()
        outbox.close()
    assert _rows(path) == [("a", frame) for frame in range(6)]


_PRODUCER = textwrap.dedent(
    """
    import sys, threading
    from pathlib import Path
    from edge_runtime.config.sinks import OutboxConfig
    from edge_runtime.events import Event
    from edge_runtime.outbox import Outbox

    outbox = Outbox(OutboxConfig(path=Path(sys.argv[1])), [])
    lock = threading.Lock()

    def reported(frame):
        def durable():
            with lock:
                print(frame, flush=True)  # the daemon's word: this event was raised
        return durable

    frame = 0
    while True:  # until killed: batches of 3 queued as fast as the writer takes them
        outbox.submit([Event(camera="a", type="t", label="red", score=0.9, frame=f, phase="start", rule="r",
                             pts_s=0.0) for f in range(frame, frame + 3)], reported(frame + 2))
        frame += 3
    """
)


def test_events_reported_durable_survive_a_sigkill_in_order(tmp_path):
    path = tmp_path / "outbox.sqlite"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    process = subprocess.Popen(
        [sys.executable, "-c", _PRODUCER, str(path)], stdout=subprocess.PIPE, text=True, env=env
    )
    reported: list[int] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            reported.append(int(line))
            if len(reported) >= 20:
                break
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    assert len(reported) >= 20, "the producer ended before reporting 20 durable batches"
    rows = _rows(path)  # what a restarted daemon would deliver
    frames = [frame for _, frame in rows]
    assert frames == list(range(len(frames)))  # in order, no gap
    assert max(reported) in frames  # every batch the process reported as raised is on disk
    reopened = Outbox(_config(path), [])  # and the killed file opens cleanly (no recovery needed)
    try:
        assert reopened.recovery is None
    finally:
        reopened.close()


def test_the_writer_checkpoints_so_the_write_ahead_log_stays_small(tmp_path, monkeypatch):
    monkeypatch.setattr("edge_runtime.outbox.CHECKPOINT_EVERY", 10)
    path = tmp_path / "outbox.sqlite"
    sink = _Recorder("steady")
    outbox = Outbox(_config(path), [sink])
    wal = Path(f"{path}-wal")
    largest = 0
    try:
        for frame in range(300):  # 300 commits and as many cursor writes: several MB of WAL unchecked
            outbox.deliver(_event("a", frame))
            largest = max(largest, wal.stat().st_size if wal.exists() else 0)
        assert _wait(lambda: len(sink.got) == 300)
    finally:
        outbox.close()
    assert 0 < largest < 1_000_000, largest  # reused from its start after each checkpoint


class _Queued:
    """A queued sink that keeps the ``on_durable`` it is given, to call when the test says so."""

    name = "queued"

    def __init__(self) -> None:
        self.durable: list[Callable[[], None] | None] = []

    def submit(self, events: Sequence[Event], on_durable: Callable[[], None] | None = None) -> None:
        self.durable.append(on_durable)

    def deliver(self, event: Event) -> None:
        raise AssertionError("a queued sink is handed batches, not single events")

    def close(self) -> None:
        pass


def test_capture_to_event_is_timed_when_the_events_are_durable_not_when_handed_over():
    queued, timers = _Queued(), StageTimers()
    pipeline = Pipeline(None, RuleSet([]), [queued], timers)
    pipeline.deliver([_event("a", 0), _event("a", 1)], [time.time() - 0.05])
    assert timers.stats("delivery") is not None and timers.stats("capture_to_event") is None
    (on_durable,) = queued.durable
    assert on_durable is not None
    on_durable()
    stats = timers.stats("capture_to_event")
    assert stats is not None and stats.count == 1 and stats.min_ms >= 50.0  # one frame, its events durable
