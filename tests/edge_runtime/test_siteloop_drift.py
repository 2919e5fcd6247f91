"""Drift: reference statistics, PSI, the monitor's events, a replay that raises drift on a shifted video."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import write_site
from event_contract import check_event

from edge_runtime.bundle import load_bundle
from edge_runtime.config import load_site_config
from edge_runtime.postprocess import Classification
from edge_runtime.replay import replay
from edge_runtime.siteloop.config import DriftConfig
from edge_runtime.siteloop.drift import DriftMonitor
from edge_runtime.siteloop.framestats import (
    Distribution,
    distribution,
    image_statistics,
    reference_statistics,
)
from edge_runtime.siteloop.reference import add_reference
from edge_runtime.sources import Frame


def textured(brightness: float, seed: int, size: tuple[int, int] = (120, 160)) -> np.ndarray:
    """A noisy BGR frame around ``brightness`` +- 20 by seed, like a scene under changing light (the
    noise keeps contrast and sharpness non-zero and varied)."""
    rng = np.random.default_rng(seed)
    level = brightness + rng.uniform(-20.0, 20.0)
    grey = np.clip(rng.normal(level, rng.uniform(15.0, 35.0), size), 0, 255).astype(np.uint8)
    return cv2.cvtColor(cv2.GaussianBlur(grey, (3, 3), 0), cv2.COLOR_GRAY2BGR)


def test_distribution_psi_is_small_for_the_same_data_and_large_for_shifted_data():
    rng = np.random.default_rng(0)
    reference = distribution(rng.normal(100, 10, 2000).tolist())
    assert reference.psi(rng.normal(100, 10, 300).tolist()) < 0.1
    assert reference.psi(rng.normal(130, 10, 300).tolist()) > 1.0
    assert reference.psi([]) == 0.0


def test_distribution_with_ties_keeps_shares_consistent():
    reference = distribution([0.99] * 90 + [0.5] * 10)  # a confident model: most scores the same
    assert abs(sum(reference.shares) - 1.0) < 1e-9 and len(reference.shares) == len(reference.cuts) + 1
    assert reference.psi([0.99] * 45 + [0.5] * 5) < 0.01


def test_distribution_refuses_inconsistent_shares():
    with pytest.raises(ValueError, match="shares"):
        Distribution(cuts=[1.0], shares=[0.5, 0.2], median=1.0, samples=2)


def test_image_statistics_order_frames_by_brightness_contrast_sharpness():
    dark, bright = image_statistics(textured(40, 1)), image_statistics(textured(160, 1))
    assert dark["brightness"] < bright["brightness"]
    flat = image_statistics(np.full((120, 160, 3), 100, np.uint8))
    assert flat["contrast"] == 0.0 and flat["sharpness"] == 0.0 and dark["sharpness"] > 0


def _frame(image: np.ndarray, index: int) -> Frame:
    return Frame(camera="cam1", index=index, ts=1_700_000_000.0 + index, pts_s=float(index), image=image)


def _prediction(score: float) -> Classification:
    return Classification(0, "red", score, np.array([score, 1 - score, 0.0], dtype=np.float32))


def test_monitor_raises_and_clears_drift_naming_the_statistic():
    reference = reference_statistics([textured(120, s) for s in range(200)], [0.95] * 200)
    config = DriftConfig(every_s=1.0, window=100, min_samples=100)
    monitor = DriftMonitor(reference, config)
    events = []
    for i in range(150):  # same scene as the reference: nothing raised
        events += monitor.observe(_frame(textured(120, 1000 + i), i), _prediction(0.95))
    assert events == []
    for i in range(150, 250):  # the light went down
        events += monitor.observe(_frame(textured(45, 1000 + i), i), _prediction(0.95))
    starts = [e for e in events if e.phase == "start"]
    assert "brightness" in {e.label for e in starts}
    assert "confidence" not in {e.label for e in starts}
    for event in events:
        check_event(json.loads(event.to_json()))
    for i in range(250, 400):  # back to normal: the drift clears
        events += monitor.observe(_frame(textured(120, 1000 + i), i), _prediction(0.95))
    ends = [e for e in events if e.phase == "end" and e.label == "brightness"]
    assert ends and ends[0].extra["reason"] == "cleared"
    assert ends[0].extra["start_id"] == next(e.id for e in starts if e.label == "brightness")
    assert monitor.state()["cam1"]["brightness"]["drifting"] is False


def test_monitor_samples_by_video_time_and_ends_open_drift_on_close():
    reference = reference_statistics([textured(120, s) for s in range(100)])
    monitor = DriftMonitor(reference, DriftConfig(every_s=2.0, window=20, min_samples=10))
    for i in range(100):  # 100 frames over 50 s of video: one sample every 2 s
        monitor.observe(Frame("cam1", i, 1_700_000_000.0 + i, i * 0.5, textured(30, i)), _prediction(0.9))
    assert monitor.state()["cam1"]["brightness"]["samples"] == 20
    assert "confidence" not in monitor.state()["cam1"]  # the reference has no confidence
    ended = monitor.close()
    assert ended and all(e.extra["reason"] == "stopped" for e in ended)
    assert monitor.close() == []


def _video(path: Path, brightness: float, frames: int = 80) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (160, 120))
    for i in range(frames):
        writer.write(textured(brightness, i))
    writer.release()
    return path


def test_replay_raises_drift_on_the_shifted_video_and_not_on_the_original(tmp_path, tiny_bundle):
    import shutil

    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, bundle)
    images = tmp_path / "reference"
    images.mkdir()
    for i in range(100):
        cv2.imwrite(str(images / f"{i:03d}.png"), textured(120, 500 + i))
    reference = add_reference(bundle, sorted(images.glob("*.png")))
    assert load_bundle(bundle).manifest.reference == reference
    assert reference.confidence is not None
    site = write_site(tmp_path / "site.yaml", bundle, tmp_path / "unused.avi", tmp_path / "events.jsonl")
    overrides = ["site_loop.drift.every_s=0.1", "site_loop.drift.window=50", "site_loop.drift.min_samples=50"]
    config = load_site_config(site, overrides)
    original = replay(config, _video(tmp_path / "original.avi", 120)).events
    shifted = replay(config, _video(tmp_path / "shifted.avi", 40)).events
    assert [e for e in original if e.kind == "drift"] == []
    drift = [e for e in shifted if e.kind == "drift"]
    assert {e.label for e in drift if e.phase == "start"} >= {"brightness"}
    assert all(e.phase == "start" or e.extra["reason"] == "stopped" for e in drift)  # replay ends them
