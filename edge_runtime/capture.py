"""Reading sources for the pipeline: on a thread per live camera (newest frame wins), or in order.

Live, a camera is read on its own thread and the pipeline always takes the newest frame: when
inference is slower than the camera, old frames are dropped (and counted) instead of queueing up
into a growing lag. In replay, ``iter_frames`` reads on the caller's thread and yields every frame,
so a run over a recorded video is deterministic; ``read_ahead`` decodes it one thread ahead.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

from edge_runtime.sources import Frame, FrameSource
from edge_runtime.timing import StageTimers

log = logging.getLogger(__name__)


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
    captured: int = 0  # frames read from the source for the model (each an inference slot)
    delivered: int = 0  # frames the consumer took
    dropped: int = 0  # frames replaced by a newer one before the consumer took them: slots lost


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
    def pending(self) -> bool:
        """A frame is waiting to be taken."""
        return self._newest is not None  # one reference read: no lock needed for a hint

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
                # CPU time, not wall time: a live camera's read mostly waits for the next frame to
                # arrive; this is what receiving, decoding (also the frames only grabbed) and
                # converting cost per frame handed to the model
                started = time.thread_time()
                frame = self.source.read()
                decode_ms = (time.thread_time() - started) * 1000.0
                if frame is None:
                    break
                if self._realtime:
                    pace_origin = pace_origin or (time.monotonic(), frame.pts_s)
                    delay = pace_origin[0] + (frame.pts_s - pace_origin[1]) - time.monotonic()
                    if delay > 0 and self._stop.wait(delay):
                        break
                    frame = replace(frame, ts=time.time())  # a live camera's frame is captured now
                # the frame first, the bookkeeping after: timing and the health checks (a grey copy of
                # the picture once a second) run while the model infers, not in the frame's age
                self._publish(frame)
                self._timers.record("decode", decode_ms)
                if self._observe is not None:
                    self._observe(frame)
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
            replaced, self._newest = self._newest, frame
            if replaced is not None:
                self.stats.dropped += 1
            self.stats.captured += 1
            self._condition.notify_all()
        if self._ready is not None:
            self._ready.set()
        if replaced is not None:  # when and how far apart, for finding why slots are lost (benchmarks)
            log.debug(
                "camera %s: slot lost: frame %d (captured %.3f) replaced by frame %d %.1f ms later",
                self.source.camera, replaced.index, replaced.ts, frame.index,
                (frame.ts - replaced.ts) * 1000.0,
            )  # fmt: skip
