"""A full outbox/snapshot volume (a real 512 KiB tmpfs filled to ENOSPC): nothing crashes, the
condition is reported, every event accepted while full is committed in order once space returns."""

from __future__ import annotations

import time

import numpy as np

from edge_runtime.config.daemon import SnapshotConfig
from edge_runtime.config.sinks import OutboxConfig
from edge_runtime.events import Event, JsonlSink, read_events
from edge_runtime.outbox import Outbox
from edge_runtime.snapshots import SnapshotWriter
from edge_runtime.sources import Frame


def _event(frame: int) -> Event:
    return Event(
        camera="belt", type="t", label="red", score=0.9, frame=frame, phase="start", rule="r", pts_s=0.0
    )


def _wait(condition, timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


def test_a_full_outbox_volume_holds_events_in_memory_and_commits_them_in_order_when_space_returns(
    small_volume, tmp_path
):
    sink = JsonlSink(tmp_path / "events.jsonl")  # the receiver lives on another disk
    outbox = Outbox(
        OutboxConfig(path=small_volume.path / "outbox.sqlite", retry_min_s=0.05, retry_max_s=0.2), [sink]
    )
    try:
        for frame in range(3):
            outbox.deliver(_event(frame))
        small_volume.fill()
        before_full = len(read_events(sink.path)) if sink.path.exists() else 0
        for frame in range(3, 40):
            outbox.deliver(_event(frame))  # never raises: the caller (inference) goes on
        assert outbox.storage_error is not None and "full" in outbox.storage_error
        assert outbox.held > 0 and outbox.storage_failures > 0
        small_volume.free()
        assert _wait(lambda: outbox.held == 0 and outbox.storage_error is None)
        assert _wait(lambda: len(read_events(sink.path)) >= 40)
    finally:
        outbox.close()
        sink.close()
    frames = [event.frame for event in read_events(sink.path)]
    assert before_full <= 3
    assert sorted(set(frames)) == list(range(40))
    first_seen = list(dict.fromkeys(frames))
    assert first_seen == list(range(40))  # in order, after dedupe


def test_a_full_snapshot_volume_is_reported_and_leaves_no_partial_file(small_volume):
    writer = SnapshotWriter(SnapshotConfig(enabled=True, folder=small_volume.path, quota_mb=10), [])
    image = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    frame = Frame(camera="belt", index=1, ts=time.time(), pts_s=0.0, image=image)
    small_volume.fill()
    assert writer.write(frame, _event(1)) is None
    assert writer.failures == 1 and "space" in writer.last_error.lower()
    assert list(small_volume.path.glob("*.jpg")) == []
    small_volume.free()
    name = writer.write(frame, _event(2))
    assert name is not None and writer.last_error is None and (small_volume.path / name).stat().st_size > 0
