"""The site loop's benchmark helpers: the shifted site's evaluation and the cost table's medians."""

from __future__ import annotations

from argparse import Namespace

import cv2
import numpy as np

from benchmarks.site_loop import median, table
from benchmarks.site_shift import evaluate, shift
from edge_runtime.bundle import load_bundle
from edge_runtime.model import BundleModel
from edge_runtime.siteloop.framestats import reference_statistics

BGR = {"red": (0, 0, 255), "green": (0, 255, 0), "blue": (255, 0, 0)}


def _scene(colour: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = np.full((96, 128, 3), BGR[colour], np.float32) * rng.uniform(0.7, 1.0)
    image += rng.normal(0, 12, image.shape)
    return cv2.GaussianBlur(np.clip(image, 0, 255).astype(np.uint8), (3, 3), 0)


def test_the_shifted_site_raises_drift_and_the_original_does_not(tiny_bundle):
    model = BundleModel(load_bundle(tiny_bundle))
    reference = reference_statistics(
        [_scene(c, s) for c in BGR for s in range(40)], [0.99] * 120, source="test"
    )
    rng = np.random.default_rng(0)
    test = [(_scene(c, 100 + s), c) for c in BGR for s in range(40)]
    original = evaluate(model, test, reference)
    shifted = evaluate(model, [(shift(image, rng), label) for image, label in test], reference)
    assert original["top1"] == 1.0 and original["drift_raised"] == []
    assert "brightness" in shifted["drift_raised"]
    assert shifted["psi"]["brightness"] > original["psi"]["brightness"]


def test_a_detector_s_drift_counts_its_best_box_and_a_frame_without_one_as_zero():
    from benchmarks.site_shift import drift
    from edge_runtime.postprocess import Detection, Detections

    frames = [_scene(c, s) for c in BGR for s in range(40)]
    sure = [Detections([Detection("person", 0.9, (0.1, 0.1, 0.3, 0.5))]) for _ in frames]
    reference = reference_statistics(frames, [0.9] * len(frames), source="test")
    rng = np.random.default_rng(0)
    original = drift([_scene(c, 100 + s) for c in BGR for s in range(40)], sure, reference)
    assert original["drift_raised"] == [] and original["psi"]["confidence"] < 0.1
    lost = [Detections([]) for _ in frames]  # the shifted site: the detector finds nothing
    shifted = drift([shift(image, rng, 2.0) for image in frames], lost, reference)
    assert {"brightness", "confidence"} <= set(shifted["drift_raised"])


def _round(fps: float, cpu: float, stage: dict | None = None, shadow: dict | None = None) -> dict:
    live = {
        "count": 8,
        "fps_per_camera": 15.0,
        "frame_age_p50_ms": 5.0,
        "frame_age_p99_ms": 30.0,
        "dropped": 0,
        "captured": 1200,
    }
    return {"replay_fps": fps, "live": live, "cpu_ms_per_frame": cpu, "site_loop_ms": stage, "shadow": shadow}


def test_the_cost_table_compares_medians_with_the_loop_off():
    results = {
        "off": {"median": median([_round(200, 6.0), _round(100, 9.0), _round(210, 6.2)])},
        "capture+drift+shadow": {
            "median": median(
                [
                    _round(190, 6.6, {"p50": 0.1, "p99": 2.0}, {"cost": 0.2}),
                    _round(195, 6.9, {"p50": 0.2, "p99": 3.0}, {"cost": 0.18}),
                    _round(90, 9.9, {"p50": 0.1, "p99": 9.0}, {"cost": 0.21}),
                ]
            )
        },
    }
    assert results["off"]["median"]["replay_fps"] == 200 and results["off"]["median"]["site_loop_ms"] is None
    text = table(results, 8)
    assert "| off | 200.0 | +0.0 %" in text
    assert (
        "| capture+drift+shadow | 190.0 | -5.0 %" in text
        and "| 6.9 | +11.3 %" in text
        and "| 20.0 % |" in text
    )


def test_hard_examples_are_the_frames_the_model_is_least_sure_of(tiny_bundle):
    from benchmarks.site_adapt import margins, predictions

    model = BundleModel(load_bundle(tiny_bundle))
    sure = np.full((48, 64, 3), BGR["red"], np.uint8)
    torn = np.full((48, 64, 3), (0, 120, 120), np.uint8)  # as green as it is red: a margin near 0
    found = margins(predictions(model, [(sure, "red"), (torn, "red")]))
    assert found[0] > 0.9 and found[1] < 0.1


def test_the_goals_are_judged_on_the_figures_they_name():
    from benchmarks.site_adapt import changed, goals

    results = {
        "metric": "top1",
        "deployed": {
            "site": {"top1": 0.60, "drift_raised": ["brightness"]},
            "original": {"top1": 0.95, "drift_raised": [], "images": 200},
        },
        "hard": {"site": 0.86, "original": 0.945, "original_changed": changed([1, 2], [1, 3, 4])},
        "random": {"site": 0.78, "original": 0.95},
        "all": {"site": 0.90, "original": 0.95},
    }
    judged = goals(results)
    assert judged["gap_closed"] == 0.867 and judged["gap_closed_met"]
    assert judged["hard_minus_random_pp"] == 8.0 and judged["hard_beats_random_met"]
    assert judged["forgetting_pp"] == 0.5 and judged["forgetting_met"] and judged["drift_met"]
    assert results["hard"]["original_changed"] == {"lost": 2, "gained": 1}
    assert judged["forgetting_se_pp"] == 0.87  # sqrt(3) of 200 images
    results["hard"]["original"] = 0.92
    results["deployed"]["original"]["drift_raised"] = ["contrast"]
    judged = goals(results)
    assert not judged["forgetting_met"] and not judged["drift_met"]
    deployed = {"site": {"map50": 0.60}, "original": {"map50": 0.95}}
    judged = goals({**results, "metric": "map50", "deployed": deployed})
    assert judged["gap_closed"] == 0.867 and judged["drift_met"] is None  # no drift figure, no verdict


def test_a_detector_s_boxes_turn_with_the_site_s_camera():
    from benchmarks.site_adapt_detect import Frame, shifted
    from benchmarks.site_shift import shift_with_turn

    image = np.full((216, 384, 3), 128, np.uint8)
    frame = Frame(image, np.array([[100, 50, 140, 110]], np.float32), np.array([2]))
    moved = shifted(frame, np.random.default_rng([0, 1, 0]), 2.0)
    turn = shift_with_turn(image, np.random.default_rng([0, 1, 0]), 2.0)[1]
    centre = turn @ np.array([120.0, 80.0, 1.0])  # where the camera's turn sends the box's centre
    box = moved.boxes[0]
    assert abs((box[0] + box[2]) / 2 - centre[0]) < 0.5 and abs((box[1] + box[3]) / 2 - centre[1]) < 0.5
    assert box[2] - box[0] > 40 * 1.08 and moved.labels.tolist() == [2]  # turned and zoomed: it grows


def _torn(green: int, red: int, seed: int) -> np.ndarray:
    """A frame between green and red, textured so that no two frames hash alike."""
    noise = np.random.default_rng(seed).normal(0, 6, (48, 64, 1))
    base = np.full((48, 64, 3), (0, green, red), np.float32)
    return np.clip(base + cv2.GaussianBlur(noise, (0, 0), 3)[..., None] * 3, 0, 255).astype(np.uint8)


def test_the_benchmark_s_hard_frames_are_the_device_s_default_pick(tiny_bundle):
    from benchmarks.site_adapt import _chosen, device_pick, margins, predictions

    model = BundleModel(load_bundle(tiny_bundle))
    images = [
        (_torn(119, 121, 0), "red"),  # the red side of unsure, twice
        (_torn(118, 122, 1), "red"),
        (_torn(123, 117, 2), "green"),  # the green side, less unsure
        (np.full((48, 64, 3), BGR["red"], np.uint8), "red"),  # sure: the device keeps it not
    ]
    found = predictions(model, images)
    assert [p.label for p in found] == ["red", "red", "green", "red"]
    spread = margins(found)
    assert spread[0] < spread[1] < spread[2] < 0.15 < spread[3]
    args = Namespace(runs="hard,balanced,all", labels=2, seed=0, first_draw=0, random_draws=1)
    balanced = device_pick(found, images, 2, "balanced")
    runs = dict(_chosen(args, spread, {"balanced": balanced}))
    assert sorted(runs["hard"]) == sorted(device_pick(found, images, 2, "margin")) == [0, 1]
    assert sorted(runs["balanced"]) == [0, 2]  # opt-in: one frame of each predicted class
    assert sorted(runs["all"]) == [0, 1, 2, 3]
    assert sorted(device_pick(found, images, 10, "margin")) == [0, 1, 2]  # only what the capture keeps


def test_random_draws_are_seeded_and_summarised_by_their_mean():
    from benchmarks.site_adapt import goals, random_draws, summarise_draws

    draws = random_draws(0, 600, 100, range(3))
    assert np.array_equal(draws[0], np.random.default_rng(0).choice(600, 100, replace=False))  # the old draw
    assert all(len(set(d)) == 100 for d in draws.values()) and not np.array_equal(draws[1], draws[2])
    later = random_draws(0, 600, 100, range(1, 3))  # a round split over two invocations draws the same
    assert list(later) == [1, 2] and all(np.array_equal(later[k], draws[k]) for k in later)
    results = {
        "metric": "top1",
        "deployed": {
            "site": {"top1": 0.5, "drift_raised": ["contrast"]},
            "original": {"top1": 0.9, "drift_raised": [], "images": 1000},
        },
        "hard": {"site": 0.86, "original": 0.9},
        "all": {"site": 0.9, "original": 0.9},
        **{
            f"random-{k}": {"labels": 100, "site": s, "original": 0.9}
            for k, s in enumerate([0.74, 0.8, 0.83])
        },
    }
    summarise_draws(results)
    assert "random-0" not in results and [d["site"] for d in results["random"]["draws"]] == [0.74, 0.8, 0.83]
    assert [d["draw"] for d in results["random"]["draws"]] == [0, 1, 2]
    assert results["random"]["site"] == 0.79 and results["random"]["site_range"] == [0.74, 0.83]
    assert results["random"]["site_sd"] == 0.0458
    judged = goals(results)
    assert judged["hard_minus_random_pp"] == 7.0 and judged["hard_beats_random_met"]  # against the mean
    assert judged["random_draws"] == 3 and judged["random_site_sd_pp"] == 4.58
