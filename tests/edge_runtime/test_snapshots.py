"""Snapshots: annotated JPEGs that a real decoder reads back, kept under the disk quota."""

from __future__ import annotations

import time

import cv2
import numpy as np

from edge_runtime.config import RuleConfig, SnapshotConfig
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
