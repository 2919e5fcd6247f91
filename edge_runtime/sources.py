"""Frame sources: video files, image folders, streams and devices, and the reconnecting wrapper.

A source's ``read`` returns the next frame the model should see. The frames between (``stride``, or
``infer_fps`` slots) are only grabbed: decoded, because an H.264 decoder needs every frame of its
reference chain, but never converted to BGR; an MJPEG stream's are not even decoded (every JPEG
stands alone: the due ones go through ``cv2.imdecode``). A stream's frames carry their capture time, estimated
from the stream's own timestamps (``frameclock``), so a decoding backlog shows up as frame age.
``capture`` reads sources on their threads for the live daemon.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, Protocol

import cv2
import numpy as np

from edge_runtime.backoff import Backoff
from edge_runtime.config.cameras import CameraConfig
from edge_runtime.errors import ImageError, SourceError
from edge_runtime.frameclock import Slots, StreamClock
from edge_runtime.preprocess import read_image
from edge_runtime.redact import redact_url

log = logging.getLogger(__name__)

SourceKind = Literal["file", "folder", "stream", "device"]
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
_STREAM_URL = re.compile(r"^(rtsps?|https?|rtmp|udp|tcp)://", re.IGNORECASE)
# Without these bounds a hung RTSP server blocks read() for 30 s (measured, see REAL-PARTS.md).
_STREAM_PARAMS = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 3000, cv2.CAP_PROP_READ_TIMEOUT_MSEC, 2000]
# Codecs whose every frame stands alone: a frame the model will not see need not be decoded at all.
_INTRA_ONLY = frozenset({"MJPG"})


@dataclass(frozen=True)
class Frame:
    """One decoded frame and where it came from."""

    camera: str
    index: int  # frame number in the source (files: the video's own frame number, counting on across loops)
    ts: float  # wall-clock capture time, seconds since the epoch (streams: estimated from their timestamps)
    pts_s: float  # files: position in the video (monotonic across loops); live: seconds since opened
    image: np.ndarray  # BGR uint8, H x W x 3
    tensor: np.ndarray | None = None  # the model's input for this frame, when prepared ahead (replay)


class FrameSource(Protocol):
    """Anything that yields frames of one camera; ``read`` returns None when the source has ended."""

    camera: str

    def read(self) -> Frame | None: ...

    def close(self) -> None: ...


def _fourcc(capture: cv2.VideoCapture) -> str:
    code = int(capture.get(cv2.CAP_PROP_FOURCC))
    return "".join(chr((code >> shift) & 0xFF) for shift in (0, 8, 16, 24))


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

    def __init__(
        self, camera: CameraConfig, capture: cv2.VideoCapture, kind: SourceKind, slot_phase: float = 0.0
    ) -> None:
        """``slot_phase``: where in each ``infer_fps`` period this camera's due frames fall (``Slots``)."""
        self.camera = camera.name
        self.kind = kind
        self._capture = capture
        self._stride = camera.stride
        self._slots = Slots(camera.infer_fps, slot_phase) if camera.infer_fps else None
        self._clock = StreamClock() if kind == "stream" else None
        self._loop = camera.loop and kind == "file"
        self._opened = time.monotonic()
        self._index = -1
        self._loop_offset_s = 0.0
        self._last_pts_s = 0.0
        self._grabbed_since_rewind = 0
        # Thinned MJPEG: grab only reads the compressed frame; the due ones are decoded by imdecode
        thinned = camera.stride > 1 or camera.infer_fps is not None
        self._raw = thinned and _fourcc(capture) in _INTRA_ONLY and bool(capture.set(cv2.CAP_PROP_FORMAT, -1))

    @property
    def fps(self) -> float:
        return float(self._capture.get(cv2.CAP_PROP_FPS) or 0.0)

    @property
    def frames_read(self) -> int:
        """Frames grabbed (decoded) so far, whether the model gets them or not."""
        return self._index + 1

    @property
    def skips_decoding(self) -> bool:
        """Frames the model will not see are read compressed and never decoded (thinned MJPEG)."""
        return self._raw

    def read(self) -> Frame | None:
        """The next frame due for the model (every ``stride``-th, or one per ``infer_fps`` slot), or
        None at the end of the source."""
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
            # Slots of a live source follow arrival; a skipped frame costs one grab and no other call
            # into OpenCV (each releases and retakes the GIL, which dozens of cameras contend for).
            if self._slots is not None and not self._slots.due(pts_s if self.kind == "file" else ts):
                continue
            if self._clock is not None:
                ts = self._clock.capture_time(ts, self._capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0)
            ok, image = self._capture.retrieve()
            if not ok or image is None:
                return None
            if self._raw:
                decoded = cv2.imdecode(image.reshape(-1), cv2.IMREAD_COLOR)
                if decoded is None:  # one corrupt JPEG: the next frame stands alone
                    log.warning("camera %s: frame %d is no decodable JPEG; skipped", self.camera, self._index)
                    continue
                image = decoded
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
        self._paths = sorted(p for p in Path(camera.stream).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self._paths:
            raise SourceError(
                f"camera {camera.name!r}: {camera.stream}: no images ({', '.join(sorted(IMAGE_SUFFIXES))})"
            )
        self._folder = camera.stream
        self._loop = camera.loop
        self._stride = camera.stride
        self._index = -1
        self.fps = 0.0

    @property
    def frames_read(self) -> int:
        return self._index + 1

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
        self,
        camera: CameraConfig,
        stop: threading.Event,
        clock: Callable[[], float] = time.monotonic,
        slot_phase: float = 0.0,
    ) -> None:
        self.camera = camera.name
        self.slot_phase = slot_phase  # kept across reconnects
        self.kind = source_kind(camera.stream)
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
            source = open_source(self._config, self.slot_phase)
        except SourceError as exc:
            log.warning("%s; retrying in up to %.1f s", exc, self._backoff.current)
            self._wait()
            return None
        if not isinstance(source, VideoCaptureSource):
            raise SourceError(f"camera {self.camera!r}: {self._config.stream} is not a stream or device")
        log.info("camera %s: connected to %s", self.camera, redact_url(self._config.stream))
        self._source = source
        return source

    def _wait(self) -> None:
        self._stop.wait(self._backoff.next())

    @property
    def frames_read(self) -> int:
        return self._offset + (self._source.frames_read if self._source is not None else 0)

    @property
    def skips_decoding(self) -> bool:
        return self._source is not None and self._source.skips_decoding

    def close(self) -> None:
        if self._source is not None:
            self._source.close()


def open_camera(camera: CameraConfig, stop: threading.Event, slot_phase: float = 0.0) -> FrameSource:
    """The live source of a camera: streams and devices reconnect, files and folders end.
    ``slot_phase``: where in each ``infer_fps`` period its due frames fall (``frameclock.Slots``)."""
    kind = source_kind(camera.stream)
    if kind in ("stream", "device"):
        return ReconnectingSource(camera, stop, slot_phase=slot_phase)
    return open_source(camera, slot_phase)


def open_source(camera: CameraConfig, slot_phase: float = 0.0) -> VideoCaptureSource | ImageFolderSource:
    """Open a camera's source (its sub-stream when it has one), or raise SourceError naming both."""
    url = camera.stream
    kind = source_kind(url)
    if kind == "folder":
        return ImageFolderSource(camera)
    if kind == "file" and not Path(url).is_file():
        raise SourceError(f"camera {camera.name!r}: {url}: no such video file")
    # One decoder thread per camera: FFmpeg's frame threads each hold a frame back (latency, REAL-PARTS.md)
    # and many cameras already keep every core busy.
    threads = [cv2.CAP_PROP_N_THREADS, camera.decode_threads] if camera.decode_threads else []
    if kind == "stream":
        capture = cv2.VideoCapture(url, cv2.CAP_FFMPEG, _STREAM_PARAMS + threads)
    elif kind == "device":
        # a USB camera unplugged and plugged back keeps its by-id path (not its index): reconnect by it
        capture = cv2.VideoCapture(int(url) if url.isdigit() else url)
    else:
        capture = cv2.VideoCapture(url, cv2.CAP_ANY, threads)
    if not capture.isOpened():
        raise SourceError(
            f"camera {camera.name!r}: cannot open {kind} {redact_url(url)} (not a readable video?)"
        )
    return VideoCaptureSource(camera, capture, kind, slot_phase)
