"""Belt load end to end: the generated belt video (load known per frame) replayed through a real bundle.

The bundle and site come from ``tests/belt_fixtures.py`` (a hand-set dark-pixel segmenter).
"""

from __future__ import annotations

import csv
import json
import signal
import time
import urllib.request
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
import yaml
from daemon_helpers import LogReader, free_port, spawn_daemon

from edge_runtime.beltload import OVERLOAD_TYPE, SPEED_TYPE
from edge_runtime.capture import iter_frames
from edge_runtime.cli import main
from edge_runtime.config import load_site_config
from edge_runtime.events import compare_events, read_events, read_truth
from edge_runtime.replay import replay
from edge_runtime.sources import open_source
from edge_runtime.startup import belt_monitor, load_model, verify_site
from edge_runtime.timing import StageTimers

REPO = Path(__file__).parents[2]


def _truth_loads(tiny_data: Path) -> np.ndarray:
    with (tiny_data / "video" / "frames.csv").open() as handle:
        return np.array([float(row["belt_load"]) for row in csv.DictReader(handle)])


def test_every_frame_is_measured_near_the_truth_and_the_speed_ramps(belt_site: Path, tiny_data: Path) -> None:
    config = load_site_config(belt_site)
    bundle = verify_site(config)
    model, monitor = load_model(bundle, config.model), belt_monitor(config, bundle)
    raw, speeds, times = [], [], []
    with closing(open_source(config.camera())) as source:
        for frame in iter_frames(source, StageTimers()):
            monitor.update(frame, model.segment([frame.image])[0])
            state = monitor.states["belt"]
            raw.append(state.raw_load)
            speeds.append(state.speed_mps)
            times.append(frame.pts_s)
    truth = _truth_loads(tiny_data)
    assert len(raw) == len(truth)
    assert np.abs(np.array(raw) - truth).mean() < 0.08
    limits = config.belt_load.speed
    assert all(limits.min_mps <= v <= limits.max_mps for v in speeds)
    ramp = np.abs(np.diff(speeds)) / np.diff(times)
    assert ramp.max() <= limits.max_accel_mps2 + 1e-6
    # a normal load slows the belt from its full start speed; the overload brings it back up
    slowest = int(np.argmin(speeds))
    assert speeds[slowest] < limits.max_mps - 2 * limits.deadband_mps
    assert speeds[-1] > speeds[slowest] + limits.deadband_mps


def test_replay_raises_the_known_overload_with_its_inputs(belt_site: Path, tiny_data: Path) -> None:
    config = load_site_config(belt_site)
    result = replay(config, tiny_data / "video" / "belt.avi")
    overloads = [e for e in result.events if e.type == OVERLOAD_TYPE]
    match = compare_events(overloads, read_truth(tiny_data / "video" / "belt_truth.jsonl"), tolerance=0)
    assert match.ok, match.table()
    start, end = overloads
    assert start.extra["load"] >= config.belt_load.overload.above
    assert start.extra["min_mps"] == config.belt_load.speed.min_mps
    assert end.extra["start_id"] == start.id and end.extra["reason"] == "stopped"  # overloaded to the end
    speed_events = [e for e in result.events if e.type == SPEED_TYPE]
    assert speed_events[0].frame == 0 and len(speed_events) >= 2
    assert all(e.phase == "update" and "recommended_speed_mps" in e.extra for e in speed_events)


def test_replay_cli_checks_the_overload_truth(
    belt_site: Path, tiny_data: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "replayed.jsonl"
    video = tiny_data / "video"
    code = main(
        [
            "replay",
            str(video / "belt.avi"),
            "--config",
            str(belt_site),
            "--expect",
            str(video / "belt_truth.jsonl"),
            "--out",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().out
    assert "1 matched, 0 missed, 0 false" in capsys.readouterr().out
    types = {event.type for event in read_events(out)}
    assert types == {OVERLOAD_TYPE, SPEED_TYPE}


def test_a_classify_bundle_cannot_measure_belt_load(belt_site: Path, tiny_bundle: Path, capsys) -> None:
    code = main(["run", "--validate", "--config", str(belt_site), f"model.bundle={tiny_bundle}"])
    assert code == 2
    assert "belt_load: needs a segment bundle" in capsys.readouterr().err


def test_the_live_daemon_publishes_load_and_speed(belt_site: Path, tmp_path: Path) -> None:
    port = free_port()
    site = yaml.safe_load(belt_site.read_text())
    site["cameras"][0].update(loop=True, realtime=True, health={"enabled": False})
    site["http"] = {"port": port}
    belt_site.write_text(yaml.safe_dump(site))
    events = Path(site["sinks"]["jsonl"]["path"])
    process = spawn_daemon(belt_site, REPO)
    try:
        LogReader(process).wait_for("running 1 camera")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (events.exists() and read_events(events)):
            time.sleep(0.2)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            metrics = response.read().decode()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5) as response:
            status = json.loads(response.read())
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    assert process.returncode == 0
    assert (
        'adit_belt_load{camera="belt"}' in metrics
        and 'adit_belt_speed_recommended_mps{camera="belt"}' in metrics
    )
    belt = status["belt_load"]["belt"]
    assert 0 <= belt["load"] <= 1 and 1.0 <= belt["speed_mps"] <= 2.5
    assert read_events(events)[0].type == SPEED_TYPE


@pytest.mark.slow
def test_a_trained_and_exported_segmenter_drives_the_belt_monitor(
    belt_site: Path, tiny_segmenter_bundle: Path, tiny_data: Path
) -> None:
    """The torch-trained, exported path (2 epochs on 6 images: it runs, it is not accurate)."""
    config = load_site_config(belt_site, [f"model.bundle={tiny_segmenter_bundle}"])
    result = replay(config, tiny_data / "video" / "belt.avi")
    speeds = [e for e in result.events if e.type == SPEED_TYPE]
    assert result.summary.frames == 120 and speeds[0].frame == 0
    for event in result.events:
        assert 0 <= event.extra["raw_load"] <= 1
        assert (
            config.belt_load.speed.min_mps
            <= event.extra["recommended_speed_mps"]
            <= config.belt_load.speed.max_mps
        )
