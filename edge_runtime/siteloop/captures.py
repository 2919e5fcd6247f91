"""The device's store of hard examples: raw frames as JPEGs with the model's predictions, under a quota.

``offer`` is called on the inference thread (and the shadow thread): it only checks the camera's rate
limit and queues a reference to the frame (frames are never written to after capture, so no copy);
a writer thread encodes the JPEG, writes it and indexes it in ``captures.sqlite`` beside it, with
the reasons, the predictions and the bundle that made them. A full queue drops the frame and counts
it: capture must never slow inference. Beyond ``quota_mb`` the oldest captures are deleted, except
those an operator gave feedback on (pinned), which leave only when pinned ones alone fill the quota.
"""

from __future__ import annotations

import json
import logging
import queue
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2

from edge_runtime.errors import ConfigError
from edge_runtime.events import utc_iso
from edge_runtime.postprocess import Classification, Detections, Prediction, Segmentation
from edge_runtime.siteloop.config import CaptureConfig
from edge_runtime.siteloop.select import Reason
from edge_runtime.sources import Frame

log = logging.getLogger(__name__)

INDEX_NAME = "captures.sqlite"
UNLIMITED: frozenset[Reason] = frozenset({"event", "feedback"})  # rare by nature: not rate limited
_SCHEMA = """
CREATE TABLE IF NOT EXISTS captures (
    id INTEGER PRIMARY KEY AUTOINCREMENT, file TEXT NOT NULL, camera TEXT NOT NULL, frame INTEGER NOT NULL,
    ts TEXT NOT NULL, reasons TEXT NOT NULL, bundle TEXT NOT NULL, version TEXT NOT NULL,
    artifact TEXT NOT NULL, prediction TEXT NOT NULL, shadow TEXT, width INTEGER NOT NULL,
    height INTEGER NOT NULL, bytes INTEGER NOT NULL, pinned INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS capture_events (event_id TEXT PRIMARY KEY, capture_id INTEGER NOT NULL);
"""


@dataclass(frozen=True)
class BundleTag:
    """Which model made the predictions stored with a capture."""

    name: str
    version: str
    artifact: str


@dataclass(frozen=True)
class Capture:
    """One stored frame, as the labelling export reads it."""

    id: int
    path: Path
    camera: str
    frame: int
    ts: str
    reasons: list[str]
    bundle: BundleTag
    prediction: dict[str, Any]
    shadow: dict[str, Any] | None
    width: int
    height: int
    event_ids: list[str]


def prediction_json(prediction: Prediction, classes: Sequence[str]) -> dict[str, Any]:
    """A prediction as stored and exported: boxes in 0..1 of the frame, scores to 4 digits."""
    if isinstance(prediction, Classification):
        return {
            "task": "classify",
            "label": prediction.label,
            "score": round(prediction.score, 4),
            "probabilities": {
                c: round(float(p), 4) for c, p in zip(classes, prediction.probabilities, strict=False)
            },
        }
    if isinstance(prediction, Detections):
        return {
            "task": "detect",
            "objects": [
                {"label": d.label, "score": round(d.score, 4), "box": [round(v, 5) for v in d.box]}
                for d in prediction.objects
            ],
            # what a labelling round's pick ranks by: the near misses and the filter they missed
            "below_filter": [
                {"label": label, "score": round(score, 4)} for label, score in prediction.below_filter
            ],
            "score_filter": prediction.score_filter,
        }
    if isinstance(prediction, Segmentation):
        return {"task": "segment", "fractions": {k: round(v, 4) for k, v in prediction.fractions.items()}}
    raise TypeError(f"cannot store a {type(prediction).__name__}")


class TokenBucket:
    """``per_minute`` on average, ``burst`` at once; the clock is injected (monotonic seconds)."""

    def __init__(self, per_minute: float, burst: int, clock: Callable[[], float]) -> None:
        self.rate, self.burst, self._clock = per_minute / 60.0, burst, clock
        self._tokens, self._at = float(burst), clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


@dataclass(frozen=True)
class _Job:
    frame: Frame
    reasons: tuple[str, ...]
    prediction: dict[str, Any]
    shadow: dict[str, Any] | None
    event_ids: tuple[str, ...]


class CaptureStore:
    def __init__(
        self, config: CaptureConfig, tag: BundleTag, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.config, self.tag, self._clock = config, tag, clock
        self.folder = Path(config.folder)
        try:
            (self.folder / "images").mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                self.folder / INDEX_NAME, isolation_level=None, check_same_thread=False, timeout=30.0
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
            self._stored, self._bytes, self._pinned = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(bytes), 0), COALESCE(SUM(pinned), 0) FROM captures"
            ).fetchone()
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"site_loop.capture.folder: cannot use {self.folder} ({exc})") from exc
        self._lock = threading.Lock()
        self._closed = False
        self._buckets: dict[str, TokenBucket] = {}
        self._queue: queue.Queue[_Job | None] = queue.Queue(maxsize=config.queue)
        self.counts: Counter[str] = Counter()  # captured per reason
        self.rate_limited = self.queue_full = self.failures = 0
        self.last_error: str | None = None
        self._quota = int(config.quota_mb * 1024 * 1024)
        self._thread = threading.Thread(target=self._write_loop, name="captures", daemon=True)
        self._thread.start()

    def offer(
        self,
        frame: Frame,
        reasons: Sequence[str],
        prediction: dict[str, Any],
        *,
        shadow: dict[str, Any] | None = None,
        event_ids: Sequence[str] = (),
    ) -> bool:
        """Queue ``frame`` for storage if the camera's rate limit allows; True when queued."""
        if not reasons or self._closed:
            return False
        with self._lock:
            if not UNLIMITED & set(reasons):
                bucket = self._buckets.setdefault(
                    frame.camera, TokenBucket(self.config.per_minute, self.config.burst, self._clock)
                )
                if not bucket.take():
                    self.rate_limited += 1
                    return False
        try:
            self._queue.put_nowait(_Job(frame, tuple(reasons), prediction, shadow, tuple(event_ids)))
        except queue.Full:
            with self._lock:
                self.queue_full += 1
            return False
        return True

    def pin(self, event_id: str) -> Path | None:
        """Keep the capture of ``event_id``'s frame whatever the quota (operator feedback); its path."""
        self.flush()
        with self._lock:
            if self._closed:
                return None
            row = self._db.execute(
                "SELECT c.id, c.file FROM captures c JOIN capture_events e ON e.capture_id = c.id "
                "WHERE e.event_id = ?",
                (event_id,),
            ).fetchone()
            if row is None:
                return None
            changed = self._db.execute(
                "UPDATE captures SET pinned = 1, reasons = reasons || ',feedback' "
                "WHERE id = ? AND pinned = 0",
                (row[0],),
            ).rowcount
            self._pinned += changed
        return self.folder / "images" / row[1]

    def flush(self, timeout_s: float = 10.0) -> None:
        """Wait until every queued frame is written (tests, export, shutdown)."""
        deadline = time.monotonic() + timeout_s
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(10.0)
        with self._lock:
            self._closed = True
            self._db.close()

    def state(self) -> dict[str, Any]:
        """Counts kept in memory: /status never waits on the database (nor fails once it is closed)."""
        with self._lock:
            return {
                "folder": str(self.folder),
                "stored": self._stored,
                "pinned": self._pinned,
                "mb": round(self._bytes / 1e6, 2),
                "quota_mb": self.config.quota_mb,
                "captured": dict(self.counts),
                "rate_limited": self.rate_limited,
                "queue_full": self.queue_full,
                "failures": self.failures,
                "last_error": self.last_error,
            }

    def _write_loop(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is None:
                    return
                self._write(job)
            except Exception as exc:  # noqa: BLE001 - a capture is a convenience; the loop must not die
                with self._lock:
                    self.failures += 1
                    self.last_error = str(exc)
                log.warning("capture not written: %s", exc)
            finally:
                self._queue.task_done()

    def _write(self, job: _Job) -> None:
        frame = job.frame
        ok, data = cv2.imencode(".jpg", frame.image, [cv2.IMWRITE_JPEG_QUALITY, self.config.jpeg_quality])
        if not ok:
            raise OSError("JPEG encoding failed")
        name = f"{frame.camera}_{frame.index:08d}_{int(frame.ts * 1000)}.jpg"
        path = self.folder / "images" / name
        path.write_bytes(data.tobytes())
        height, width = frame.image.shape[:2]
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO captures (file, camera, frame, ts, reasons, bundle, version, artifact, "
                "prediction, "
                "shadow, width, height, bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    name,
                    frame.camera,
                    frame.index,
                    utc_iso(frame.ts),
                    ",".join(job.reasons),
                    self.tag.name,
                    self.tag.version,
                    self.tag.artifact,
                    json.dumps(job.prediction),
                    None if job.shadow is None else json.dumps(job.shadow),
                    width,
                    height,
                    len(data),
                ),
            )
            for event_id in job.event_ids:
                self._db.execute(
                    "INSERT OR REPLACE INTO capture_events (event_id, capture_id) VALUES (?, ?)",
                    (event_id, cursor.lastrowid),
                )
            for reason in job.reasons:
                self.counts[reason] += 1
            self._stored += 1
            self._bytes += len(data)
            self._enforce_quota()
        self.last_error = None

    def _enforce_quota(self) -> None:
        """Oldest unpinned first; pinned ones only once they alone exceed the quota."""
        while self._bytes > self._quota:
            row = self._db.execute(
                "SELECT id, file, bytes, pinned FROM captures ORDER BY pinned, id LIMIT 1"
            ).fetchone()
            if row is None:
                return
            (self.folder / "images" / row[1]).unlink(missing_ok=True)
            self._db.execute("DELETE FROM captures WHERE id = ?", (row[0],))
            self._db.execute("DELETE FROM capture_events WHERE capture_id = ?", (row[0],))
            self._stored, self._bytes, self._pinned = (
                self._stored - 1,
                self._bytes - row[2],
                self._pinned - row[3],
            )


def read_captures(folder: Path) -> Iterator[Capture]:
    """Every capture in a store folder, oldest first (the labelling export reads this; read-only)."""
    index = Path(folder) / INDEX_NAME
    if not index.is_file():
        raise ConfigError(f"{folder}: no {INDEX_NAME}; not a capture folder")
    db = sqlite3.connect(f"file:{index}?mode=ro", uri=True)
    try:
        events: dict[int, list[str]] = {}
        for event_id, capture_id in db.execute("SELECT event_id, capture_id FROM capture_events"):
            events.setdefault(capture_id, []).append(event_id)
        rows = db.execute(
            "SELECT id, file, camera, frame, ts, reasons, bundle, version, artifact, prediction, shadow, "
            "width, height FROM captures ORDER BY id"
        ).fetchall()
    finally:
        db.close()
    for row in rows:
        yield Capture(
            id=row[0],
            path=Path(folder) / "images" / row[1],
            camera=row[2],
            frame=row[3],
            ts=row[4],
            reasons=row[5].split(","),
            bundle=BundleTag(row[6], row[7], row[8]),
            prediction=json.loads(row[9]),
            shadow=None if row[10] is None else json.loads(row[10]),
            width=row[11],
            height=row[12],
            event_ids=events.get(row[0], []),
        )
