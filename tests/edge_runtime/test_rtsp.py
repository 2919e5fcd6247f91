"""A real RTSP server: frames flow; killed and restarted at a new resolution, the source reconnects."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import pytest

from edge_runtime.capture import CaptureThread
from edge_runtime.config.cameras import CameraConfig, HealthConfig
from edge_runtime.health import CameraHealth
from edge_runtime.sources import open_camera, redact_url
from edge_runtime.timing import StageTimers


@contextmanager
def _capturing(camera: CameraConfig, observe):
    """The camera's live source read on its capture thread, stopped and closed on leaving."""
    stop = threading.Event()
    source = open_camera(camera, stop)
    capture = CaptureThread(source, stop, StageTimers(), observe=observe)
    capture.start()
    try:
        yield source
    finally:
        stop.set()
        capture.join(10)
        source.close()


def _wait(condition, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


def test_frames_flow_and_a_killed_server_is_reconnected_at_its_new_resolution(rtsp_server):
    camera = CameraConfig(name="rtsp", source=rtsp_server.url, reconnect={"min_s": 0.5, "max_s": 1.0})
    stop, events, shapes = threading.Event(), [], []
    health = CameraHealth("rtsp", HealthConfig(check_every_s=0.2, hold_s=0.0, no_frames_s=1.0), events.append)
    source = open_camera(camera, stop)

    def observe(frame):
        shapes.append(frame.image.shape)
        health.observe(frame)

    capture = CaptureThread(source, stop, StageTimers(), observe=observe)
    capture.start()
    try:
        assert _wait(lambda: capture.stats.captured >= 5), "no frames from the RTSP server"
        assert shapes[0] == (240, 320, 3) and source.connected
        rtsp_server.kill()
        assert _wait(lambda: not source.connected, timeout_s=15)
        time.sleep(1.2)
        health.tick()
        assert "no_frames" in health.active
        rtsp_server.start(width=640, height=480)
        assert _wait(lambda: shapes[-1] == (480, 640, 3), timeout_s=30), "did not reconnect"
        assert source.reconnects >= 1 and source.connected and health.active == []
        labels = [(e.label, e.phase) for e in events]
        assert ("no_frames", "end") in labels and ("resolution_changed", "start") in labels
    finally:
        stop.set()
        capture.join(10)
        source.close()


def test_credentials_in_a_url_are_redacted():
    assert redact_url("rtsp://admin:hunter2@10.0.0.5:554/s1") == "rtsp://admin:***@10.0.0.5:554/s1"
    assert redact_url("rtsp://10.0.0.5/s1") == "rtsp://10.0.0.5/s1"


@pytest.mark.slow
def test_a_server_killed_again_and_again_is_reconnected_every_time(rtsp_server):
    """Five SIGKILL/restart cycles, alternating resolutions: frames flow after each, indices keep rising."""
    camera = CameraConfig(name="rtsp", source=rtsp_server.url, reconnect={"min_s": 0.5, "max_s": 1.0})
    frames = []
    with _capturing(camera, frames.append) as source:
        assert _wait(lambda: len(frames) >= 5), "no frames from the RTSP server"
        for cycle, size in enumerate([(640, 480), (320, 240)] * 2 + [(640, 480)], start=1):
            rtsp_server.kill()
            assert _wait(lambda: not source.connected, timeout_s=15)
            rtsp_server.start(*size)
            assert _wait(lambda size=size: frames[-1].image.shape[:2] == size[::-1], timeout_s=30), cycle
            assert source.reconnects >= cycle
        indices = [frame.index for frame in frames]
        assert indices == sorted(indices) and len(set(indices)) == len(indices)


def test_a_thinned_jpeg_stream_is_read_at_its_rate_and_decoded_at_the_model_s(rtsp_server):
    """15 fps of JPEG over RTP, 5 a second for the model: the rest are read compressed, never decoded."""
    frames = []
    with _capturing(CameraConfig(name="rtsp", source=rtsp_server.url, infer_fps=5), frames.append) as source:
        assert _wait(lambda: len(frames) >= 10), "no frames from the RTSP server"
        assert source.skips_decoding
        assert frames[-1].image.shape == (240, 320, 3)
        read, handed = source.frames_read, len(frames)
        assert read >= 2 * handed  # about three read for every one handed over
        times = [frame.ts for frame in frames[-6:]]
        assert all(later > earlier for earlier, later in zip(times, times[1:], strict=False))
