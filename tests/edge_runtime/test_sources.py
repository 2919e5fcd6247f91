"""Frame sources: the video-file source, and the capture thread that keeps only the newest frame."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest

from edge_runtime.capture import CaptureThread, iter_frames, read_ahead
from edge_runtime.config.cameras import CameraConfig
from edge_runtime.errors import SourceError
from edge_runtime.sources import Frame, open_source, source_kind
from edge_runtime.timing import StageTimers


class GatedSource:
    """Yields frame i only after the test releases it, so the thread's progress is deterministic."""

    camera = "gated"

    def __init__(self, total: int) -> None:
        self.total = total
        self.released = threading.Semaphore(0)
        self.next_index = 0
        self.closed = False

    def read(self) -> Frame | None:
        if self.next_index >= self.total:
            return None
        self.released.acquire()
        index, self.next_index = self.next_index, self.next_index + 1
        return Frame(
            camera=self.camera,
            index=index,
            ts=time.time(),
            pts_s=index / 10,
            image=np.zeros((2, 2, 3), np.uint8),
        )

    def close(self) -> None:
        self.closed = True


def _wait_for(condition, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("timed out waiting for the capture thread")
        time.sleep(0.005)


def test_a_slow_consumer_only_gets_the_newest_frame_and_drops_are_counted():
    source, stop = GatedSource(total=9), threading.Event()
    capture = CaptureThread(source, stop, StageTimers())
    capture.start()
    try:
        for _ in range(5):
            source.released.release()
        _wait_for(lambda: capture.stats.captured == 5)
        assert capture.take().index == 4
        assert capture.take() is None  # taken frames are not handed out twice
        for _ in range(3):
            source.released.release()
        _wait_for(lambda: capture.stats.captured == 8)
        assert capture.take(timeout_s=1.0).index == 7
        source.released.release()
        assert capture.take(timeout_s=5.0).index == 8
        _wait_for(lambda: capture.exhausted)
        assert (capture.stats.captured, capture.stats.delivered, capture.stats.dropped) == (9, 3, 6)
    finally:
        stop.set()
        assert capture.join(5.0)
    assert not source.closed  # whoever opened the source closes it


def test_a_frame_is_published_before_the_camera_health_looks_at_it():
    source, stop = GatedSource(total=1), threading.Event()
    published: list[bool] = []
    capture = CaptureThread(source, stop, StageTimers(), observe=lambda _: published.append(capture.pending))
    capture.start()
    try:
        source.released.release()
        _wait_for(lambda: bool(published))
        assert published == [True]  # the health checks run while the model has the frame, not before
    finally:
        stop.set()
        assert capture.join(5.0)


def test_one_stop_event_ends_a_thread_waiting_on_its_source():
    source, stop = GatedSource(total=100), threading.Event()
    capture = CaptureThread(source, stop, StageTimers())
    capture.start()
    source.released.release()
    _wait_for(lambda: capture.stats.captured == 1)
    stop.set()
    source.released.release()  # the blocked read returns; the thread sees the stop and ends
    assert capture.join(5.0)


def test_video_file_frames_have_index_and_position(colour_video):
    camera = CameraConfig(name="c", source=str(colour_video.path))
    source = open_source(camera)
    timers = StageTimers()
    frames = list(iter_frames(source, timers))
    source.close()
    assert [f.index for f in frames] == list(range(colour_video.frames))
    assert frames[12].pts_s == pytest.approx(1.2)
    assert frames[12].image.shape == (48, 64, 3) and tuple(frames[12].image[0, 0]) == pytest.approx(
        (0, 0, 255), abs=3
    )
    assert timers.stats("decode").count == colour_video.frames + 1  # the last read finds the end


def test_stride_skips_frames_and_loop_keeps_time_monotonic(colour_video):
    camera = CameraConfig(name="c", source=str(colour_video.path), stride=4, loop=True)
    source = open_source(camera)
    frames = [source.read() for _ in range(30)]
    source.close()
    assert [f.index for f in frames[:3]] == [0, 4, 8]
    assert frames[-1].index == 29 * 4  # counts on across the loop
    positions = [f.pts_s for f in frames]
    assert positions == sorted(positions) and positions[-1] > colour_video.frames / colour_video.fps


def test_missing_and_unreadable_sources_name_the_camera_and_source(tmp_path):
    with pytest.raises(SourceError, match=r"camera 'gate'.*nowhere\.avi"):
        open_source(CameraConfig(name="gate", source=str(tmp_path / "nowhere.avi")))
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"not a video at all")
    with pytest.raises(SourceError, match=r"junk\.avi"):
        open_source(CameraConfig(name="gate", source=str(junk)))


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("rtsp://10.0.0.5/cam", "stream"),
        ("HTTP://cam/mjpg", "stream"),
        ("0", "device"),
        ("videos/belt.avi", "file"),
    ],
)
def test_source_kind(text, kind):
    assert source_kind(text) == kind


def test_read_ahead_keeps_every_frame_in_order_and_raises_a_decoding_error(colour_video):
    timers = StageTimers()
    source = open_source(CameraConfig(name="cam", source=str(colour_video.path)))
    try:
        with read_ahead(iter_frames(source, timers), depth=2) as frames:
            indices = [frame.index for frame in frames]
    finally:
        source.close()
    assert indices == list(range(colour_video.frames))

    def broken():
        yield from ()
        raise SourceError("cam: decoder died")

    with pytest.raises(SourceError, match="decoder died"), read_ahead(broken()) as frames:
        list(frames)


def test_leaving_read_ahead_early_stops_its_thread(colour_video):
    source = open_source(CameraConfig(name="cam", source=str(colour_video.path)))
    try:
        with read_ahead(iter_frames(source, StageTimers()), depth=1) as frames:
            next(frames)
        assert not any(t.name == "read-ahead" for t in threading.enumerate())
    finally:
        source.close()


def test_infer_fps_hands_over_the_frame_due_at_each_slot_and_grabs_the_rest(colour_video):
    camera = CameraConfig(name="c", source=str(colour_video.path), infer_fps=2.5)  # the video is 10 fps
    source = open_source(camera)
    frames = list(iter_frames(source, StageTimers()))
    grabbed, compressed = source.frames_read, source.skips_decoding
    source.close()
    assert [f.index for f in frames] == list(range(0, colour_video.frames, 4))
    assert grabbed == colour_video.frames  # every frame read, one in four decoded and handed over
    # MJPEG: the frames between were never decoded; the due ones decoded by imdecode, as FFmpeg would
    assert compressed
    everything = open_source(CameraConfig(name="all", source=str(colour_video.path)))
    reference = [frame.image for frame in iter_frames(everything, StageTimers())]
    everything.close()
    for frame in frames:
        difference = np.abs(frame.image.astype(int) - reference[frame.index].astype(int))
        assert frame.image.shape == (48, 64, 3) and difference.mean() < 2, frame.index


def test_an_mjpeg_source_that_hands_over_every_frame_decodes_as_usual(colour_video):
    source = open_source(CameraConfig(name="c", source=str(colour_video.path)))
    try:
        assert not source.skips_decoding and source.read().image.shape == (48, 64, 3)
    finally:
        source.close()


def test_stride_and_infer_fps_are_one_choice():
    with pytest.raises(ValueError, match=r"stride \(2\) and infer_fps \(5.0\) both thin the frames"):
        CameraConfig(name="c", source="v.avi", stride=2, infer_fps=5)


def test_a_sub_stream_is_opened_instead_of_the_main_stream(colour_video, tmp_path):
    small = tmp_path / "small.avi"
    writer = cv2.VideoWriter(str(small), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (32, 24))
    for _ in range(5):
        writer.write(np.full((24, 32, 3), 128, np.uint8))
    writer.release()
    camera = CameraConfig(name="c", source=str(colour_video.path), sub_stream=str(small))
    source = open_source(camera)
    try:
        assert source.read().image.shape == (24, 32, 3)
    finally:
        source.close()
    with pytest.raises(SourceError, match=r"camera 'c'.*missing\.avi"):
        open_source(camera.model_copy(update={"sub_stream": str(tmp_path / "missing.avi")}))
