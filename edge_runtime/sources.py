"""Frame sources and the capture thread that keeps only the newest frame.

Live, a camera is read on its own thread and the pipeline always takes the newest frame: when
inference is slower than the camera, old frames are dropped (and counted) instead of queueing up
into a growing lag. In replay, ``iter_frames`` reads on the caller's thread and yields every frame,
so a run over a recorded video is deterministic.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import cv2
import numpy as np

from edge_runtime.config import CameraConfig
from edge_runtime.errors import SourceError
from edge_runtime.timing import StageTimers

log = logging.getLogger(__name__)

SourceKind = Literal["file", "stream", "device"]
_STREAM_URL = re.compile(r"^(rtsps?|https?|rtmp|udp|tcp)://", re.IGNORECASE)
# Without these bounds a hung RTSP server blocks read() for 30 s (measured, see REAL-PARTS.md).
_STREAM_PARAMS = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 3000, cv2.CAP_PROP_READ_TIMEOUT_MSEC, 2000]


@dataclass(frozen=True)
class Frame:
    """One decoded frame and where it came from."""

    camera: str
    index: int  # frame number in the source (files: the video's own frame number, counting on across loops)
    ts: float  # wall-clock capture time, seconds since the epoch
    pts_s: float  # files: position in the video (monotonic across loops); live: seconds since opened
    image: np.ndarray  # BGR uint8, H x W x 3


class FrameSource(Protocol):
    """Anything that yields frames of one camera; ``read`` returns None when the source has ended."""

    camera: str

    def read(self) -> Frame | None: ...

    def close(self) -> None: ...


def source_kind(source: str) -> SourceKind:
    """A URL is a stream, a bare integer a local device index, anything else a file path."""
    if _STREAM_URL.match(source):
        return "stream"
    return "device" if source.isdigit() else "file"


class VideoCaptureSource:
    """A video file, network stream or local device read through ``cv2.VideoCapture``."""

    def __init__(self, camera: CameraConfig, capture: cv2.VideoCapture, kind: SourceKind) -> None:
        self.camera = camera.name
        self.kind = kind
        self._capture = capture
        self._stride = camera.stride
        self._loop = camera.loop and kind == "file"
        self._opened = time.monotonic()
        self._index = -1
        self._loop_offset_s = 0.0
        self._last_pts_s = 0.0
        self._grabbed_since_rewind = 0

    @property
    def fps(self) -> float:
        return float(self._capture.get(cv2.CAP_PROP_FPS) or 0.0)

    def read(self) -> Frame | None:
        """The next frame (every ``stride``-th one), or None at the end of the source."""
        while True:
            if not self._capture.grab():
                if self._loop and self._grabbed_since_rewind and self._rewind():
                    continue
                return None
            ts = time.time()
            self._index += 1
            self._grabbed_since_rewind += 1
            pts_s = self._pts_s()
            if self._index % self._stride:
                continue  # skipped frames are grabbed but never converted to BGR
            ok, image = self._capture.retrieve()
            if not ok or image is None:
                return None
            return Frame(camera=self.camera, index=self._index, ts=ts, pts_s=pts_s, image=image)

    def _pts_s(self) -> float:
        if self.kind != "file":
            return time.monotonic() - self._opened
        self._last_pts_s = self._loop_offset_s + self._capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        return self._last_pts_s

    def _rewind(self) -> bool:
        frame_s = 1.0 / self.fps if self.fps > 0 else 0.0
        self._loop_offset_s = self._last_pts_s + frame_s
        self._grabbed_since_rewind = 0
        return bool(self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0))

    def close(self) -> None:
        self._capture.release()


def open_source(camera: CameraConfig) -> VideoCaptureSource:
    """Open a camera's source, or raise SourceError naming the camera and its source."""
    kind = source_kind(camera.source)
    if kind == "file" and not Path(camera.source).is_file():
        raise SourceError(f"camera {camera.name!r}: {camera.source}: no such video file")
    if kind == "stream":
        capture = cv2.VideoCapture(camera.source, cv2.CAP_FFMPEG, _STREAM_PARAMS)
    elif kind == "device":
        capture = cv2.VideoCapture(int(camera.source))
    else:
        capture = cv2.VideoCapture(camera.source)
    if not capture.isOpened():
        raise SourceError(
            f"camera {camera.name!r}: cannot open {kind} {camera.source} (not a readable video?)"
        )
    return VideoCaptureSource(camera, capture, kind)


def iter_frames(source: FrameSource, timers: StageTimers) -> Iterator[Frame]:
    """Every frame of ``source`` in order, read on the caller's thread (replay: nothing dropped)."""
    while True:
        with timers.measure("decode"):
            frame = source.read()
        if frame is None:
            return
        yield frame


@dataclass
class CaptureStats:
    captured: int = 0  # frames read from the source
    delivered: int = 0  # frames the consumer took
    dropped: int = 0  # frames replaced by a newer one before the consumer took them


class CaptureThread:
    """Reads one source on its own thread, holding only the newest frame for the consumer.

    ``stop`` is the daemon's one stop event: setting it ends every capture thread. ``ready`` (shared
    by all cameras) is set whenever any of them has a new frame, so one consumer can serve many.
    Whoever opened the source closes it, after ``join`` says the thread has let go of it.
    """

    def __init__(
        self,
        source: FrameSource,
        stop: threading.Event,
        timers: StageTimers,
        *,
        realtime: bool = False,
        ready: threading.Event | None = None,
    ) -> None:
        self.source = source
        self.stats = CaptureStats()
        self.error: Exception | None = None
        self._stop = stop
        self._timers = timers
        self._realtime = realtime
        self._ready = ready
        self._condition = threading.Condition()
        self._newest: Frame | None = None
        self._ended = False
        self._thread = threading.Thread(target=self._run, name=f"capture-{source.camera}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def take(self, timeout_s: float = 0.0) -> Frame | None:
        """The newest frame not yet taken, waiting up to ``timeout_s``; None if there is none."""
        with self._condition:
            if timeout_s > 0:
                self._condition.wait_for(
                    lambda: self._newest is not None or self._ended or self._stop.is_set(), timeout_s
                )
            frame, self._newest = self._newest, None
            if frame is not None:
                self.stats.delivered += 1
            return frame

    @property
    def exhausted(self) -> bool:
        """The source has ended and its last frame has been taken."""
        with self._condition:
            return self._ended and self._newest is None

    def join(self, timeout_s: float = 5.0) -> bool:
        """Wait for the thread to end; False (and a warning) if a blocked read kept it alive."""
        if self._thread.ident is None:
            return True  # never started, holds nothing
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            log.warning("camera %s: capture thread still blocked after %.1f s", self.source.camera, timeout_s)
            return False
        return True

    def _run(self) -> None:
        pace_origin: tuple[float, float] | None = None
        try:
            while not self._stop.is_set():
                # for a live camera this includes waiting for the frame to arrive
                with self._timers.measure("decode"):
                    frame = self.source.read()
                if frame is None:
                    break
                if self._realtime:
                    pace_origin = pace_origin or (time.monotonic(), frame.pts_s)
                    delay = pace_origin[0] + (frame.pts_s - pace_origin[1]) - time.monotonic()
                    if delay > 0 and self._stop.wait(delay):
                        break
                self._publish(frame)
        except Exception as exc:  # a camera failure must end this thread, not the daemon
            log.exception("camera %s: capture failed", self.source.camera)
            self.error = exc
        finally:
            with self._condition:
                self._ended = True
                self._condition.notify_all()
            if self._ready is not None:
                self._ready.set()

    def _publish(self, frame: Frame) -> None:
        with self._condition:
            if self._newest is not None:
                self.stats.dropped += 1
            self._newest = frame
            self.stats.captured += 1
            self._condition.notify_all()
        if self._ready is not None:
            self._ready.set()
