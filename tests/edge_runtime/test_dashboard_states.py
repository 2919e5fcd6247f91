"""The one-word camera state of the overview, from the capture thread, the health monitor and the model's
failures (the daemon with a failing model: test_inference_faults.py)."""

from __future__ import annotations

import threading
import time
from typing import get_args

import numpy as np

from edge_runtime.capture import CaptureThread
from edge_runtime.config.cameras import HealthConfig
from edge_runtime.health import CameraHealth
from edge_runtime.observe import CameraView
from edge_runtime.sources import Frame
from edge_runtime.timing import StageTimers
from edge_runtime.web.i18n import MESSAGES
from edge_runtime.web.overview import SIGNAL, OverviewState, overview_state


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


def _words(kind: type) -> set[str]:
    return {word for part in get_args(kind) for word in (get_args(part) or (part,))}


def test_a_model_failing_on_delivered_frames_is_the_word_and_every_word_has_its_texts():
    assert overview_state("online", ["inference_failing"]) == "inference_failing"
    assert overview_state("blind", ["dark", "inference_failing"]) == "inference_failing"  # critical first
    for summary in ("offline", "reconnecting", "ended"):  # no frames: the model's failure is not the news
        assert overview_state(summary, ["no_frames", "inference_failing"]) == summary
    assert overview_state("blind", ["dark"]) == "blind" and overview_state("online", []) == "online"
    assert "inference_failing" in SIGNAL  # its frames are shown, not NO SIGNAL
    words = _words(OverviewState)
    assert {"online", "blind", "offline", "reconnecting", "ended", "inference_failing"} <= words
    for language, texts in MESSAGES.items():
        missing = {w for w in words if f"state.{w}" not in texts}
        conditions = {k.removeprefix("cond.") for k in texts if k.startswith("cond.")}
        missing |= {"inference_failing", "rules_failing"} - conditions
        assert not missing, (language, missing)
    assert MESSAGES["zh-CN"]["state.inference_failing"] != MESSAGES["en"]["state.inference_failing"]
