"""Overload: every camera keeps a fair share, the newest frame wins, and the box says it is over capacity."""

from __future__ import annotations

import json
import queue
import threading
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pytest

from edge_runtime.capacity import EVENT_TYPE, CapacityMonitor, WatchedCamera
from edge_runtime.capture import CaptureStats
from edge_runtime.config.cameras import CapacityConfig
from edge_runtime.event_schema import validate_event
from edge_runtime.liveness import Liveness
from edge_runtime.scheduler import FairScheduler
from edge_runtime.serve import ServeLoop
from edge_runtime.sources import Frame
from edge_runtime.systemd import SystemdNotifier


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Mailbox:
    """A capture thread's one-frame slot, filled by the test: a newer frame replaces (drops) the older."""

    name: str

    def __post_init__(self) -> None:
        self.source = SimpleNamespace(camera=self.name)
        self.stats = CaptureStats()
        self.newest: Frame | None = None

    def publish(self, index: int, ts: float) -> None:
        self.stats.dropped += self.newest is not None
        self.stats.captured += 1
        self.newest = Frame(self.name, index, ts, ts, np.zeros((2, 2, 3), np.uint8))

    @property
    def pending(self) -> bool:
        return self.newest is not None

    def take(self) -> Frame | None:
        frame, self.newest = self.newest, None
        self.stats.delivered += frame is not None
        return frame


def _overload(
    cameras: list[Mailbox], rates: list[float], served_per_s: float, seconds: float, clock: FakeClock
):
    """Each camera publishes at its rate; the model serves ``served_per_s`` frames one at a time."""
    scheduler = FairScheduler(cameras, rates, clock)
    ages: dict[str, list[float]] = {c.name: [] for c in cameras}
    next_publish = [i * 0.013 for i in range(len(cameras))]  # cameras out of phase
    next_serve, step = 0.0, 0.001
    while clock.now < seconds:
        for i, camera in enumerate(cameras):
            if clock.now >= next_publish[i]:
                camera.publish(camera.stats.captured, clock.now)
                next_publish[i] += 1.0 / rates[i]
        if clock.now >= next_serve:
            for frame in scheduler.take(limit=1):
                ages[frame.camera].append(clock.now - frame.ts)
                next_serve = clock.now + 1.0 / served_per_s
        clock.now += step
    return ages


def test_under_overload_every_camera_gets_the_same_share_and_fresh_frames():
    clock = FakeClock()
    cameras = [Mailbox(f"cam{i}") for i in range(12)]
    # 12 cameras at 5 fps ask for 60 inferences a second; the model does 30
    ages = _overload(cameras, [5.0] * 12, served_per_s=30.0, seconds=10.0, clock=clock)
    served = [camera.stats.delivered for camera in cameras]
    assert sum(served) == pytest.approx(300, rel=0.02)
    assert max(served) - min(served) <= 2  # a fair share: 25 each
    assert all(camera.stats.dropped > 0 for camera in cameras)  # the slots it could not serve, counted
    oldest = max(age for camera_ages in ages.values() for age in camera_ages)
    assert oldest <= 0.2 + 1e-9  # never older than one slot: the newest frame wins


def test_a_faster_camera_gets_a_share_in_proportion_to_its_rate():
    clock = FakeClock()
    cameras = [Mailbox("slow"), Mailbox("fast")]
    # they ask for 2 + 10 a second; the model does 6
    _overload(cameras, [2.0, 10.0], served_per_s=6.0, seconds=30.0, clock=clock)
    slow, fast = (camera.stats.delivered for camera in cameras)
    assert 3.0 <= fast / slow <= 6.0  # owed slots weigh by rate (5x); plain round-robin would give 1x


def test_a_frame_not_yet_taken_is_replaced_by_a_newer_one():
    clock = FakeClock()
    cameras = [Mailbox("a"), Mailbox("b")]
    scheduler = FairScheduler(cameras, [None, None], clock)
    cameras[0].publish(0, 0.0)
    cameras[0].publish(1, 0.1)
    cameras[1].publish(0, 0.1)
    assert [(f.camera, f.index) for f in scheduler.take()] == [("a", 1), ("b", 0)]
    assert cameras[0].stats.dropped == 1 and scheduler.take() == []


def _monitor(cameras: list[Mailbox], clock: FakeClock, events: list) -> CapacityMonitor:
    watched = [WatchedCamera(c.name, c, 5.0) for c in cameras]  # type: ignore[arg-type]
    config = CapacityConfig(window_s=5.0, max_dropped=0.02, max_frame_age_ms=500.0)
    return CapacityMonitor(watched, config, events.append, clock)


def test_dropped_slots_raise_box_over_capacity_and_a_clean_window_ends_it():
    clock, events = FakeClock(), []
    cameras = [Mailbox("a"), Mailbox("b")]
    monitor = _monitor(cameras, clock, events)
    for second in range(20):
        clock.now = float(second)
        for camera in cameras:
            for index in range(5):
                camera.publish(index, clock.now)
                if second < 8 or index == 4:  # from 8 s on, 4 of every 5 slots are lost
                    camera.take()
                    monitor.record(camera.name, 30.0)
        monitor.check()
        if second == 7:
            assert not monitor.over and events == []
    assert monitor.over and [e.phase for e in events] == ["start"]
    assert events[0].type == EVENT_TYPE and events[0].camera == "daemon"
    validate_event(json.loads(events[0].to_json()))  # the published contract (docs/events)
    state = monitor.state()
    assert state["over_capacity"] and state["cameras_behind"] == ["a", "b"]
    assert state["cameras"]["a"]["dropped_share"] == pytest.approx(0.8, abs=0.05)
    assert state["cameras"]["a"]["fps"] == pytest.approx(1.0, abs=0.25)
    for second in range(20, 30):  # back within capacity: the window clears, the event ends
        clock.now = float(second)
        for camera in cameras:
            camera.publish(0, clock.now)
            camera.take()
            monitor.record(camera.name, 30.0)
        monitor.check()
    assert not monitor.over and [e.phase for e in events] == ["start", "end"]
    assert events[1].extra["start_id"] == events[0].id and events[1].extra["duration_s"] > 0
    validate_event(json.loads(events[1].to_json()))


def test_stale_frames_alone_are_over_capacity():
    clock, events = FakeClock(), []
    cameras = [Mailbox("a")]
    monitor = _monitor(cameras, clock, events)
    for second in range(6):
        clock.now = float(second)
        cameras[0].publish(second, clock.now)
        cameras[0].take()
        monitor.record("a", 900.0)  # decoding fell behind: every frame 0.9 s old, none dropped
        monitor.check()
    assert monitor.over and monitor.state()["frame_age_p99_ms"] == pytest.approx(900.0)


def test_the_monitor_can_be_read_while_it_is_fed():
    clock, events = FakeClock(), []
    cameras = [Mailbox("a")]
    monitor = _monitor(cameras, clock, events)
    stop = threading.Event()

    def feed() -> None:
        while not stop.is_set():
            monitor.record("a", 10.0)

    feeder = threading.Thread(target=feed)
    feeder.start()
    try:
        for _ in range(50):
            monitor.check()
            assert monitor.state()["over_capacity"] is False
    finally:
        stop.set()
        feeder.join(5)


def test_an_every_frame_camera_is_behind_only_when_its_frames_get_stale():
    clock, events = FakeClock(), []
    camera = Mailbox("a")
    config = CapacityConfig(window_s=5.0, max_dropped=0.02, max_frame_age_ms=500.0)
    watched = [WatchedCamera("a", camera, None)]  # type: ignore[arg-type]
    monitor = CapacityMonitor(watched, config, events.append, clock)
    for second in range(6):
        clock.now = float(second)
        for index in range(10):
            camera.publish(index, clock.now)  # 9 of every 10 frames replaced: the newest frame wins
        camera.take()
        monitor.record("a", 40.0)
        monitor.check()
    assert not monitor.over and monitor.state()["cameras"]["a"]["dropped_share"] == pytest.approx(0.9)


class Steps:
    """A stand-in for the inference stage and the capacity monitor that writes down what ran, in order."""

    batch_limit = 1
    in_flight = 0

    def __init__(self) -> None:
        self.calls: list[object] = []

    def can_start(self) -> bool:
        return True

    def submit(self, frames) -> None:
        self.calls.append(("submit", [(f.camera, f.index) for f in frames]))

    def collect(self) -> list:
        self.calls.append("collect")
        return []

    def deliver(self, events) -> None:
        pass

    def check(self) -> None:
        self.calls.append("capacity")


def test_a_waiting_frame_goes_to_the_model_before_the_housekeeping_runs():
    clock, steps = FakeClock(), Steps()
    camera = Mailbox("a")
    camera.exhausted = True  # type: ignore[attr-defined] - ends the loop once nothing is left to do
    loop = ServeLoop(
        steps,  # type: ignore[arg-type]
        FairScheduler([camera], [5.0], clock),  # type: ignore[list-item]
        [SimpleNamespace(capture=camera, health=None)],  # type: ignore[list-item]
        steps,  # type: ignore[arg-type]
        Liveness(60.0, clock),
        SystemdNotifier(None),
        stalled=lambda: steps.calls.append("watchdog") or {},
        raised=queue.SimpleQueue(),
        ready=threading.Event(),
        stop=threading.Event(),
        machines_alive=lambda: False,
        clock=clock,
    )
    clock.now = 10.0  # the housekeeping and the capacity verdict are both due when the frame arrives
    camera.publish(7, clock.now)
    loop.run()
    # the one pet at start-up, then in the loop: the frame first, the housekeeping after
    assert steps.calls == ["watchdog", ("submit", [("a", 7)]), "collect", "watchdog", "capacity", "collect"]
