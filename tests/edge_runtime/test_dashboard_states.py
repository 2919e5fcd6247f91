"""The one-word camera state of the overview, from the capture thread and the health monitor."""

from __future__ import annotations

import threading
import time

import numpy as np

from edge_runtime.capture import CaptureThread
from edge_runtime.config.cameras import HealthConfig
from edge_runtime.health import CameraHealth
from edge_runtime.observe import CameraView
from edge_runtime.sources import Frame
from edge_runtime.timing import StageTimers


class _Source:
    camera = "cam1"

    def __init__(self) -> None:
        self.connected = True

    def read(self) -> Frame | None:
        return None

    def close(self) -> None:
        pass


def _frame(image: np.ndarray, index: int) -> Frame:
    return Frame(camera="cam1", index=index, ts=time.time(), pts_s=0.0, image=image)


def test_online_blind_offline_reconnecting_and_ended():
    source, now = _Source(), [100.0]
    config = HealthConfig(check_every_s=0.0, hold_s=0.0, no_frames_s=0.05)
    health = CameraHealth("cam1", config, lambda _: None, clock=lambda: now[0])
    capture = CaptureThread(source, threading.Event(), StageTimers())
    view = CameraView("cam1", capture, health)
    scene = np.random.default_rng(0).integers(40, 220, (48, 64, 3), dtype=np.uint8)
    health.observe(_frame(scene, 0))
    assert view.summary_state() == "online"
    health.observe(_frame(np.zeros_like(scene), 1))
    assert health.active == ["dark"] and view.summary_state() == "blind"
    health.observe(_frame(scene, 2))
    now[0] += 0.1  # longer than no_frames_s without a frame
    health.tick()
    assert view.summary_state() == "offline"
    source.connected = False
    assert view.summary_state() == "reconnecting"
    capture.start()  # the source ends at once
    assert capture.join(5.0) and view.summary_state() == "ended"
