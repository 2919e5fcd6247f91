"""Snapshots: the frame that started an event, as a JPEG with what the rule saw drawn on it.

The folder is kept under a disk quota by deleting the oldest snapshots first: on a box that runs
for months unattended, a full disk would stop the outbox too. The folder is listed once, at start;
after that an in-memory index (oldest first, with sizes) keeps the quota, because a snapshot is
written on the inference thread and a listing of 30,000 files there cost 0.3-0.8 s per event
(``benchmarks/snapshot_quota.py``). The event carries the URL path the dashboard serves the file
under (``extra.snapshot``, e.g. ``/snapshots/cam1_00000042_<id>.jpg``) so an operator or a control
system can open the picture of an alarm.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from edge_runtime.config.daemon import SnapshotConfig
from edge_runtime.config.rules import RuleConfig
from edge_runtime.errors import ConfigError
from edge_runtime.events import Event
from edge_runtime.postprocess import Detections, Prediction
from edge_runtime.sources import Frame

log = logging.getLogger(__name__)

URL_PREFIX = "/snapshots/"  # the dashboard's route (edge_runtime.web.app)


def snapshot_url(name: str) -> str:
    """The URL path of a snapshot file on the daemon's HTTP endpoint."""
    return URL_PREFIX + name


class SnapshotWriter:
    def __init__(self, config: SnapshotConfig, rules: Sequence[RuleConfig]) -> None:
        self.config = config
        self.rules = {rule.name: rule for rule in rules}
        try:
            config.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"snapshots.folder: cannot create {config.folder} ({exc.strerror})") from exc
        self._quota_bytes = int(config.quota_mb * 1024 * 1024)
        self._index, self._total = _index(config.folder)
        self._enforce_quota()
        self.failures = 0
        self.last_error: str | None = None  # None once a snapshot is written again (/healthz)

    def write(self, frame: Frame, event: Event, prediction: Prediction | None = None) -> str | None:
        """Save the annotated frame; return its file name, or None when the disk refused it."""
        image = frame.image.copy()
        height, width = image.shape[:2]
        scale = np.array([width, height], dtype=np.float32)
        rule = self.rules.get(event.rule)
        if rule is not None and rule.zone is not None:
            polygon = (np.asarray(rule.zone, dtype=np.float32) * scale).astype(np.int32)
            cv2.polylines(image, [polygon], isClosed=True, color=(0, 165, 255), thickness=2)
        if isinstance(prediction, Detections):
            for obj in prediction.objects:
                x1, y1, x2, y2 = (
                    (np.asarray(obj.box, dtype=np.float32).reshape(2, 2) * scale).astype(int).ravel()
                )
                colour = (0, 0, 255) if obj.label == event.label else (200, 200, 200)
                cv2.rectangle(image, (x1, y1), (x2, y2), colour, 2)
                cv2.putText(
                    image,
                    f"{obj.label} {obj.score:.2f}",
                    (x1, max(y1 - 4, 30)),
                    cv2.FONT_HERSHEY_SIMPLEX,
                    0.45,
                    colour,
                    1,
                    cv2.LINE_AA,
                )
        text = f"{event.camera} {event.type}: {event.label} {event.score:.2f}  {event.ts}"
        cv2.rectangle(image, (0, 0), (image.shape[1], 22), (0, 0, 0), thickness=-1)
        cv2.putText(image, text, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 255, 255), 1, cv2.LINE_AA)
        name = f"{event.camera}_{frame.index:08d}_{event.id}.jpg"
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.config.jpeg_quality])
        try:
            if not ok:
                raise OSError("JPEG encoding failed")
            (self.config.folder / name).write_bytes(data.tobytes())
            self._index.append((name, len(data)))
            self._total += len(data)
            self._enforce_quota()
        except OSError as exc:  # a snapshot is a convenience; the event itself must still go out
            (self.config.folder / name).unlink(missing_ok=True)  # no half-written JPEG left behind
            self.failures += 1
            self.last_error = str(exc)
            log.warning("snapshot %s not written: %s", name, exc)
            return None
        self.last_error = None
        return name

    def _enforce_quota(self) -> None:
        """Delete the oldest snapshots until the folder fits its quota: O(deleted), never O(files)."""
        while self._total > self._quota_bytes and self._index:
            name, size = self._index.popleft()
            self._total -= size
            try:
                (self.config.folder / name).unlink(missing_ok=True)
            except OSError as exc:  # a file someone made read-only: forget it rather than stop
                log.warning("snapshot %s not deleted: %s", name, exc)


def _index(folder: Path) -> tuple[deque[tuple[str, int]], int]:
    """The snapshots already in ``folder``, oldest first, and their total size (read once, at start)."""
    found = []
    for path in folder.glob("*.jpg"):
        try:
            stat = path.stat()
        except OSError:  # deleted meanwhile
            continue
        found.append((stat.st_mtime, path.name, stat.st_size))
    found.sort()
    return deque((name, size) for _, name, size in found), sum(size for _, _, size in found)
