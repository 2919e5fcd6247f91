"""Frame sources and the capture thread that keeps only the newest frame.

Live, a camera is read on its own thread and the pipeline always takes the newest frame: when
inference is slower than the camera, old frames are dropped (and counted) instead of queueing up
into a growing lag. In replay, ``iter_frames`` reads on the caller's thread and yields every frame,
so a run over a recorded video is deterministic.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, Protocol

import cv2
import numpy as np

from edge_runtime.backoff import Backoff
from edge_runtime.config import CameraConfig
from edge_runtime.errors import ImageError, SourceError
from edge_runtime.preprocess import read_image
from edge_runtime.redact import redact_url
from edge_runtime.timing import StageTimers

log = logging.getLogger(__name__)

SourceKind = Literal["file", "folder", "stream", "device"]
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
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
    tensor: np.ndarray | None = None  # the model's input for this frame, when prepared ahead (replay)


class FrameSource(Protocol):
    """Anything that yields frames of one camera; ``read`` returns None when the source has ended."""

    camera: str

    def read(self) -> Frame | None: ...

    def close(self) -> None: ...


def source_kind(source: str) -> SourceKind:
    """A URL is a stream; a bare integer or a /dev/ path (``/dev/v4l/by-id/usb-...``, stable across
    re-plugging) a local device; a directory an image folder; anything else a file."""
    if _STREAM_URL.match(source):
        return "stream"
    if source.isdigit() or source.startswith("/dev/"):
        return "device"
    return "folder" if Path(source).is_dir() else "file"


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

    @property
    def frames_read(self) -> int:
        return self._index + 1

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


class ImageFolderSource:
    """The images of a folder in name order, one frame each (optionally looping): stills as a camera."""

    kind: SourceKind = "folder"

    def __init__(self, camera: CameraConfig) -> None:
        self.camera = camera.name
        self._paths = sorted(p for p in Path(camera.source).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self._paths:
            raise SourceError(
                f"camera {camera.name!r}: {camera.source}: no images ({', '.join(sorted(IMAGE_SUFFIXES))})"
            )
        self._folder = camera.source
        self._loop = camera.loop
        self._stride = camera.stride
        self._index = -1
        self.fps = 0.0

    def read(self) -> Frame | None:
        unreadable = 0
        while True:
            self._index += 1
            if self._index >= len(self._paths) and not self._loop:
                return None
            if self._index % self._stride:
                continue
            path = self._paths[self._index % len(self._paths)]
            try:
                image = read_image(path)
            except ImageError as exc:  # one bad file must not end the camera
                log.warning("camera %s: skipped: %s", self.camera, exc)
                unreadable += 1
                if unreadable >= len(self._paths):  # looping over nothing readable would spin forever
                    raise SourceError(f"camera {self.camera!r}: no readable image in {self._folder}") from exc
                continue
            return Frame(
                camera=self.camera, index=self._index, ts=time.time(), pts_s=float(self._index), image=image
            )

    def close(self) -> None:
        """Nothing held open."""


class ReconnectingSource:
    """A stream or device that reopens itself after a failure, with exponential back-off and jitter.

    ``read`` returns None only once ``stop`` is set: a camera that drops is retried for as long as
    the daemon runs. The frame index counts on across reconnects, and so does ``pts_s`` (monotonic
    seconds since the camera was first opened: a connection's own clock restarts at 0, which made an
    event spanning a reconnect end 53.7 s before it started). A new resolution is just passed on
    (preprocessing resizes every frame; health reports the change).
    """

    def __init__(
        self, camera: CameraConfig, stop: threading.Event, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.camera = camera.name
        self.kind = source_kind(camera.source)
        self.reconnects = 0
        self.connected = False
        self._config = camera
        self._stop = stop
        self._source: VideoCaptureSource | None = None
        self._backoff = Backoff(camera.reconnect.min_s, camera.reconnect.max_s)
        self._offset = 0  # frames before the current connection
        self._clock = clock
        self._origin = clock()

    def read(self) -> Frame | None:
        while not self._stop.is_set():
            source = self._source or self._open()
            if source is None:
                continue
            frame = source.read()
            if frame is not None:
                self._backoff.reset()
                self.connected = True
                return replace(frame, index=frame.index + self._offset, pts_s=self._clock() - self._origin)
            log.warning("camera %s: stream lost; reconnecting", self.camera)
            self._offset += source.frames_read
            source.close()
            self._source, self.connected = None, False
            self.reconnects += 1
            self._wait()
        return None

    def _open(self) -> VideoCaptureSource | None:
        try:
            source = open_source(self._config)
        except SourceError as exc:
            log.warning("%s; retrying in up to %.1f s", exc, self._backoff.current)
            self._wait()
            return None
        if not isinstance(source, VideoCaptureSource):
            raise SourceError(f"camera {self.camera!r}: {self._config.source} is not a stream or device")
        log.info("camera %s: connected to %s", self.camera, redact_url(self._config.source))
        self._source = source
        return source

    def _wait(self) -> None:
        self._stop.wait(self._backoff.next())

    def close(self) -> None:
        if self._source is not None:
            self._source.close()


def open_camera(camera: CameraConfig, stop: threading.Event) -> FrameSource:
    """The live source of a camera: streams and devices reconnect, files and folders end."""
    kind = source_kind(camera.source)
    if kind in ("stream", "device"):
        return ReconnectingSource(camera, stop)
    return open_source(camera)


def open_source(camera: CameraConfig) -> VideoCaptureSource | ImageFolderSource:
    """Open a camera's source, or raise SourceError naming the camera and its source."""
    kind = source_kind(camera.source)
    if kind == "folder":
        return ImageFolderSource(camera)
    if kind == "file" and not Path(camera.source).is_file():
        raise SourceError(f"camera {camera.name!r}: {camera.source}: no such video file")
    if kind == "stream":
        capture = cv2.VideoCapture(camera.source, cv2.CAP_FFMPEG, _STREAM_PARAMS)
    elif kind == "device":
        # a USB camera unplugged and plugged back keeps its by-id path (not its index): reconnect by it
        capture = cv2.VideoCapture(int(camera.source) if camera.source.isdigit() else camera.source)
    else:
        capture = cv2.VideoCapture(camera.source)
    if not capture.isOpened():
        raise SourceError(
            f"camera {camera.name!r}: cannot open {kind} {redact_url(camera.source)} (not a readable video?)"
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


@contextmanager
def read_ahead(frames: Iterator[Frame], depth: int = 4) -> Iterator[Iterator[Frame]]:
    """``frames`` decoded on a thread up to ``depth`` ahead, in order, nothing dropped.

    Replay then overlaps decoding with inference as a live camera's capture thread does. Leaving the
    block stops the thread and waits for it, so the caller may close the source afterwards; an
    error while decoding is raised in the caller.
    """
    slots: queue.Queue[Frame | BaseException | None] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Frame | BaseException | None) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for frame in frames:
                if not put(frame):
                    return
            put(None)
        except Exception as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            put(exc)

    def consume() -> Iterator[Frame]:
        while (item := slots.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item

    thread = threading.Thread(target=produce, name="read-ahead", daemon=True)
    thread.start()
    try:
        yield consume()
    finally:
        stop.set()
        thread.join()


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
        observe: Callable[[Frame], None] | None = None,
    ) -> None:
        self.source = source
        self._observe = observe  # camera health sees every captured frame, on this thread
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
                if self._observe is not None:
                    self._observe(frame)
                if self._realtime:
                    pace_origin = pace_origin or (time.monotonic(), frame.pts_s)
                    delay = pace_origin[0] + (frame.pts_s - pace_origin[1]) - time.monotonic()
                    if delay > 0 and self._stop.wait(delay):
                        break
                    frame = replace(frame, ts=time.time())  # a live camera's frame is captured now
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
