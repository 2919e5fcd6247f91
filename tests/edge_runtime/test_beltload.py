"""The belt-load monitor on masks whose coal share is known exactly: region, smoothing, speed, overloads."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from pydantic import ValidationError

from edge_runtime.beltload import OVERLOAD_TYPE, SPEED_TYPE, BeltLoadMonitor, load_fraction, region_mask
from edge_runtime.config import SiteConfig
from edge_runtime.config.belt import BeltLoadConfig
from edge_runtime.config.sinks import OutboxConfig
from edge_runtime.errors import ConfigError
from edge_runtime.live import LatestFrames
from edge_runtime.observe import DaemonCollector, DaemonView
from edge_runtime.outbox import Outbox
from edge_runtime.segmentation import Segmentation
from edge_runtime.sources import Frame
from edge_runtime.timing import StageTimers

CLASSES = ["background", "belt", "coal"]
HW = (40, 100)
FPS = 10.0
SPEED = {"min_mps": 1.0, "max_mps": 2.0, "full_load": 0.8, "deadband_mps": 0.1, "max_accel_mps2": 0.5}
REGION = [
    (0.0, 0.25),
    (1.0, 0.25),
    (1.0, 0.75),
    (0.0, 0.75),
]  # rows 10..30 of 40 (fillPoly includes both edges)


def config(**changes: object) -> BeltLoadConfig:
    settings = {
        "region": REGION,
        "smoothing_s": 0.0,
        "speed": SPEED,
        "overload": {"above": 0.9, "below": 0.8, "hold_s": 0.5},
    }
    return BeltLoadConfig.model_validate({**settings, **changes})


def segmentation(load: float) -> Segmentation:
    """Coal over the first ``load`` of the region's columns, background outside the region."""
    mask = np.zeros(HW, np.uint8)
    mask[10:31] = 1
    mask[10:31, : round(load * HW[1])] = 2
    return Segmentation(mask=mask, fractions={})


def feed(monitor: BeltLoadMonitor, loads: list[float], first: int = 0, camera: str = "belt") -> list:
    events = []
    for offset, load in enumerate(loads):
        index = first + offset
        frame = Frame(camera, index, 1000.0 + index / FPS, index / FPS, np.zeros((*HW, 3), np.uint8))
        events += monitor.update(frame, segmentation(load))
    return events


def test_region_share_counts_only_the_polygon() -> None:
    region = region_mask(REGION, HW)
    assert np.count_nonzero(region) == 20 * 100 + 100  # fillPoly includes the closing row 30
    mask = np.full(HW, 2, np.uint8)  # coal everywhere, also outside the region
    mask[10:31, 50:] = 1
    assert load_fraction(mask, region, 2) == pytest.approx(0.5)
    assert load_fraction(mask, np.zeros(HW, bool), 2) == 0.0


def test_smoothing_follows_a_step_with_its_time_constant() -> None:
    monitor = BeltLoadMonitor(config(smoothing_s=1.0), CLASSES)
    feed(monitor, [0.0] + [1.0] * 10)  # a step, then 1 s of video
    state = monitor.states["belt"]
    assert state.raw_load == pytest.approx(1.0, abs=0.03)
    assert state.load == pytest.approx(1 - np.exp(-1.0), abs=0.03)


def test_a_light_belt_slows_at_the_ramp_limit_to_its_proportional_speed() -> None:
    monitor = BeltLoadMonitor(config(), CLASSES)
    feed(monitor, [0.4] * 40)  # 4 s: full speed 2.0 ramps at 0.5 m/s2 to 2.0 * 0.4 / 0.8 = 1.0
    speeds = []
    for load in [0.4] * 5:
        feed(monitor, [load], first=40 + len(speeds))
        speeds.append(monitor.states["belt"].speed_mps)
    assert speeds[-1] == pytest.approx(1.0, abs=0.02)
    fresh = BeltLoadMonitor(config(), CLASSES)
    ramp = []
    for index in range(6):
        feed(fresh, [0.4], first=index)
        ramp.append(fresh.states["belt"].speed_mps)
    assert np.diff(ramp) == pytest.approx([-0.05] * 5, abs=0.011)  # 0.5 m/s2 x 0.1 s per frame


def test_the_dead_band_ignores_small_load_changes_and_the_limits_hold() -> None:
    monitor = BeltLoadMonitor(config(), CLASSES)
    feed(monitor, [0.6] * 30)  # set point 1.5
    assert monitor.states["belt"].setpoint_mps == pytest.approx(1.5, abs=0.03)
    feed(monitor, [0.62, 0.58] * 10, first=30)  # +-0.05 m/s: inside the dead band
    assert monitor.states["belt"].setpoint_mps == pytest.approx(1.5, abs=0.03)
    feed(monitor, [0.0] * 40, first=50)
    assert monitor.states["belt"].speed_mps == pytest.approx(1.0)  # never below min
    feed(monitor, [1.0] * 40, first=90)
    assert monitor.states["belt"].speed_mps == pytest.approx(2.0)  # never above max


def test_overload_starts_after_the_hold_and_ends_below_the_lower_threshold() -> None:
    monitor = BeltLoadMonitor(config(), CLASSES)
    loads = [0.5] * 10 + [0.95] * 10 + [0.85] * 10 + [0.7] * 10 + [0.95] * 3
    events = [e for e in feed(monitor, loads) if e.type == OVERLOAD_TYPE]
    start, end = events
    assert (start.phase, start.frame) == ("start", 15)  # 0.5 s after the load first reached 0.95
    assert (end.phase, end.frame, end.extra["reason"]) == ("end", 30, "load_fell")  # 0.85 is inside the band
    assert end.extra["start_id"] == start.id and end.extra["duration_s"] == pytest.approx(1.5)
    assert start.extra["raw_load"] == pytest.approx(0.95, abs=0.01)
    assert start.extra["recommended_speed_mps"] <= 2.0 and start.rule == "belt_load"
    assert monitor.close() == []  # the last 0.3 s above did not last the hold
    feed(monitor, [0.95] * 6, first=len(loads))
    (closed,) = monitor.close()
    assert (closed.phase, closed.extra["reason"]) == ("end", "stopped")


def test_speed_events_report_each_step_of_the_recommendation() -> None:
    monitor = BeltLoadMonitor(config(speed={**SPEED, "report_step_mps": 0.25}), CLASSES)
    events = feed(monitor, [0.4] * 40)
    speeds = [e.extra["recommended_speed_mps"] for e in events if e.type == SPEED_TYPE]
    assert speeds[0] == 2.0 and speeds[-1] == pytest.approx(1.0)  # the ramp's end is reported too
    assert np.diff(speeds) == pytest.approx([-0.25] * 4, abs=0.06)
    feed(monitor, [0.9] * 3 + [0.7] * 37, first=40)  # up to 1.75 (a step of 0.75, then settles)
    later = [
        e.extra["recommended_speed_mps"] for e in feed(monitor, [0.7] * 5, first=80) if e.type == SPEED_TYPE
    ]
    assert later == []  # nothing new once settled


def test_cameras_keep_their_own_belt() -> None:
    monitor = BeltLoadMonitor(config(), CLASSES)
    feed(monitor, [0.2] * 20, camera="a")
    feed(monitor, [0.8] * 20, camera="b")
    assert monitor.states["a"].speed_mps < monitor.states["b"].speed_mps


def test_metrics_and_status_show_load_and_speed(tmp_path: Path) -> None:
    monitor = BeltLoadMonitor(config(), CLASSES)
    feed(monitor, [0.95] * 10)
    with closing(Outbox(OutboxConfig(path=tmp_path / "outbox.sqlite"), [])) as outbox:
        view = DaemonView(
            SiteConfig(),
            "onnx-fp32",
            "fp32",
            None,
            [],
            outbox,
            StageTimers(),
            LatestFrames(),
            0.0,
            belt=monitor,
        )
        registry = CollectorRegistry()
        registry.register(DaemonCollector(view))
        text = generate_latest(registry).decode()
        status = view.status()
    state = status["belt_load"]["belt"]
    assert state["overloaded"] is True and state["load"] == pytest.approx(0.95, abs=0.01)
    assert 'adit_belt_overloaded{camera="belt"} 1.0' in text
    assert 'adit_belt_speed_recommended_mps{camera="belt"}' in text
    assert 'adit_belt_load{camera="belt"} 0.95' in text


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"speed": {"min_mps": 3.0, "max_mps": 2.0}}, "min_mps"),
        ({"overload": {"above": 0.7, "below": 0.8}}, "below"),
        ({"region": [(0, 0), (1.2, 0), (1, 1)]}, "0..1"),
        ({"region": [(0, 0), (1, 0)]}, "at least 3"),
        ({"smoothing": 1.0}, "Extra inputs"),
    ],
)
def test_bad_belt_settings_are_refused(changes: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        config(**changes)


def test_the_belt_camera_and_label_must_exist() -> None:
    with pytest.raises(ValidationError, match="belt_load.camera: no camera 'side'"):
        SiteConfig.model_validate({"belt_load": {"camera": "side", "region": REGION}})
    with pytest.raises(ConfigError, match="belt_load.label: 'ore'.*valid: background, belt, coal"):
        BeltLoadMonitor(config(label="ore"), CLASSES)
