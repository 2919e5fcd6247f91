"""Camera health on real pictures: a textured scene is healthy; black, flat, frozen and resized are not."""

from __future__ import annotations

import time

import numpy as np
import pytest

from edge_runtime.config.cameras import HealthConfig
from edge_runtime.health import CameraHealth
from edge_runtime.sources import Frame

FAST = HealthConfig(check_every_s=0.0, hold_s=0.0, no_frames_s=0.2)


def _scene(seed: int, shape=(120, 160, 3)) -> np.ndarray:
    """A textured, moving picture: what a working camera sees."""
    return np.random.default_rng(seed).integers(40, 220, shape, dtype=np.uint8)


def _frame(image: np.ndarray, index: int = 0) -> Frame:
    return Frame(camera="belt", index=index, ts=time.time(), pts_s=0.0, image=image)


class Clock:
    """Time that passes only when a test says so: durations without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def monitor(clock):
    events = []
    health = CameraHealth("belt", FAST, events.append, clock=clock)
    health.events = events
    return health


def _feed(monitor, images) -> list[tuple[str, str]]:
    for index, image in enumerate(images):
        monitor.observe(_frame(image, index))
    return [(e.label, e.phase) for e in monitor.events]


def test_a_moving_textured_scene_raises_nothing(monitor):
    assert _feed(monitor, [_scene(i) for i in range(5)]) == []
    assert monitor.active == []


def test_a_black_picture_is_dark_and_its_recovery_is_reported(monitor):
    black = np.zeros((120, 160, 3), np.uint8)
    assert _feed(monitor, [_scene(0), black, black, _scene(1)]) == [("dark", "start"), ("dark", "end")]
    assert monitor.events[1].extra["start_id"] == monitor.events[0].id


def test_a_flat_grey_lens_is_obscured_and_a_still_scene_frozen(monitor):
    flat = np.full((120, 160, 3), 128, np.uint8)
    assert ("obscured", "start") in _feed(monitor, [_scene(0), flat])
    still = _scene(7)
    labels = _feed(monitor, [_scene(3), still, still.copy()])
    assert ("frozen", "start") in labels and monitor.active == ["frozen"]


def test_a_new_resolution_is_reported_once_and_then_normal(monitor):
    labels = _feed(monitor, [_scene(0), _scene(1, shape=(240, 320, 3)), _scene(2, shape=(240, 320, 3))])
    assert labels == [("resolution_changed", "start"), ("resolution_changed", "end")]
    extra = monitor.events[0].extra
    assert (extra["from"], extra["to"]) == ([120, 160, 3], [240, 320, 3])


def test_no_frames_is_raised_by_the_tick_and_cleared_by_the_next_frame(monitor, clock):
    monitor.observe(_frame(_scene(0)))
    clock.now += 0.19
    monitor.tick()
    assert monitor.active == []  # not yet: no_frames_s is 0.2
    clock.now += 0.11
    monitor.tick()
    assert monitor.active == ["no_frames"]
    monitor.observe(_frame(_scene(1), 1))
    assert [(e.label, e.phase) for e in monitor.events] == [("no_frames", "start"), ("no_frames", "end")]
