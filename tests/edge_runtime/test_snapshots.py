"""Snapshots: annotated JPEGs that a real decoder reads back, kept under the disk quota."""

from __future__ import annotations

import os
import pathlib
import time

import cv2
import numpy as np

from edge_runtime.config.daemon import SnapshotConfig
from edge_runtime.config.rules import RuleConfig
from edge_runtime.events import Event
from edge_runtime.postprocess import Detection, Detections
from edge_runtime.snapshots import SnapshotWriter
from edge_runtime.sources import Frame


def test_snapshots_are_readable_jpegs_and_the_oldest_go_beyond_the_quota(tmp_path):
    writer = SnapshotWriter(SnapshotConfig(enabled=True, folder=tmp_path, quota_mb=0.1), [])
    rng = np.random.default_rng(0)
    names = []
    for index in range(12):
        image = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)  # noise: ~40 KB per JPEG
        frame = Frame(camera="belt", index=index, ts=time.time(), pts_s=0.0, image=image)
        event = Event(
            camera="belt", type="t", label="red", score=0.9, frame=index, phase="start", rule="r", pts_s=0.0
        )
        names.append(writer.write(frame, event))
        time.sleep(0.01)  # distinct modification times
    kept = sorted(path.name for path in tmp_path.glob("*.jpg"))
    assert sum(path.stat().st_size for path in tmp_path.glob("*.jpg")) <= 0.1 * 1024 * 1024
    assert 0 < len(kept) < 12 and names[-1] in kept and names[0] not in kept
    assert cv2.imread(str(tmp_path / names[-1])).shape == (240, 320, 3)


def test_zones_and_boxes_are_drawn(tmp_path):
    rule = RuleConfig(name="r", labels=["person"], zone=[(0.5, 0.0), (1.0, 0.0), (1.0, 1.0), (0.5, 1.0)])
    writer = SnapshotWriter(SnapshotConfig(enabled=True, folder=tmp_path, jpeg_quality=100), [rule])
    image = np.zeros((100, 200, 3), np.uint8)
    frame = Frame(camera="belt", index=0, ts=time.time(), pts_s=0.0, image=image)
    event = Event(
        camera="belt", type="t", label="person", score=0.9, frame=0, phase="start", rule="r", pts_s=0.0
    )
    box = Detections([Detection("person", 0.9, (0.1, 0.4, 0.3, 0.9))])
    saved = cv2.imread(str(tmp_path / writer.write(frame, event, box)))
    assert saved[60, 100].max() > 100  # the zone's left edge at x = 0.5
    assert saved[70, 20, 2] > 150 and saved[70, 40].max() < 60  # the box's red left edge; inside untouched


def _start_event(index: int) -> tuple[Frame, Event]:
    image = np.random.default_rng(index).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    frame = Frame(camera="belt", index=index, ts=time.time(), pts_s=0.0, image=image)
    event = Event(
        camera="belt", type="t", label="red", score=0.9, frame=index, phase="start", rule="r", pts_s=0.0
    )
    return frame, event


def test_snapshots_of_an_earlier_run_count_towards_the_quota_oldest_first(tmp_path):
    old = []
    for index in range(20):  # 20 x 10 KiB from "last week", mtimes one minute apart
        path = tmp_path / f"old_{index:02d}.jpg"
        path.write_bytes(b"\xff" * 10240)
        os.utime(path, (1_700_000_000 + 60 * index, 1_700_000_000 + 60 * index))
        old.append(path.name)
    writer = SnapshotWriter(SnapshotConfig(enabled=True, folder=tmp_path, quota_mb=0.2), [])  # 204.8 KiB
    assert sorted(p.name for p in tmp_path.glob("*.jpg")) == old  # 200 KiB: under the quota, nothing deleted
    names = [writer.write(*_start_event(index)) for index in range(3)]
    kept = {p.name for p in tmp_path.glob("*.jpg")}
    assert set(names) <= kept
    assert sum(p.stat().st_size for p in tmp_path.glob("*.jpg")) <= 0.2 * 1024 * 1024
    evicted = [name for name in old if name not in kept]
    assert evicted and evicted == old[: len(evicted)]  # the oldest went first


def test_writing_a_snapshot_never_lists_the_folder(tmp_path, monkeypatch):
    for index in range(50):
        (tmp_path / f"old_{index:02d}.jpg").write_bytes(b"\xff" * 4096)
    writer = SnapshotWriter(SnapshotConfig(enabled=True, folder=tmp_path, quota_mb=50 * 4096 / 2**20), [])

    def listing(*_args, **_kwargs):
        raise AssertionError("the folder was listed on the event path")

    for name in ("glob", "iterdir", "rglob"):
        monkeypatch.setattr(pathlib.Path, name, listing)
    monkeypatch.setattr(os, "scandir", listing)
    monkeypatch.setattr(os, "listdir", listing)
    for index in range(5):
        assert writer.write(*_start_event(index)) is not None
    monkeypatch.undo()
    assert len(list(tmp_path.glob("old_*.jpg"))) < 50  # the quota was kept: old ones evicted
