"""A labelling round's picks of hard examples: the smallest margins (the default) and the opt-in
class-balanced pick (by predicted class, near-duplicates passed over), both deterministic; and the
export's ``--budget``/``--pick`` that run them over a device's stored captures."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_runtime.errors import ConfigError
from edge_runtime.phash import distance, phash
from edge_runtime.postprocess import Detection, Detections
from edge_runtime.siteloop.captures import BundleTag, Capture, CaptureStore, prediction_json
from edge_runtime.siteloop.config import CaptureConfig
from edge_runtime.siteloop.pick import (
    DEFAULT,
    Candidate,
    balanced,
    detection_margin,
    list_picks,
    pick,
    pick_captures,
)
from edge_runtime.sources import Frame


def _look(seed: int) -> int:
    """A distinct 64-bit hash per seed, far (> 4 bits) from every other seed's in these tests."""
    return int.from_bytes(np.random.default_rng(seed).bytes(8), "big")


def _frames(*rows: tuple[float, str]) -> list[Candidate]:
    return [Candidate(margin, label, _look(i)) for i, (margin, label) in enumerate(rows)]


def test_the_hashes_used_here_are_apart():
    looks = [_look(i) for i in range(12)]
    assert min(distance(a, b) for i, a in enumerate(looks) for b in looks[i + 1 :]) > 4


@pytest.mark.parametrize("name", list_picks())
def test_every_pick_takes_at_most_the_budget_once_each_in_a_fixed_order(name):
    frames = _frames((0.3, "a"), (0.1, "b"), (0.2, "a"), (0.1, "c"), (0.05, "a"))
    for budget in range(len(frames) + 2):
        chosen = pick(name, frames, budget)
        assert len(chosen) == min(budget, len(frames)) == len(set(chosen))
        assert chosen == pick(name, frames, budget)
    with pytest.raises(ValueError, match="budget"):
        pick(name, frames, -1)


def test_the_default_pick_is_the_smallest_margins():
    assert DEFAULT == "margin" and list_picks() == ["balanced", "margin"]
    frames = _frames((0.3, "a"), (0.1, "b"), (0.2, "a"), (0.1, "c"), (0.05, "a"))
    assert pick("margin", frames, 3) == [4, 1, 3]  # ties go to the earlier frame
    assert pick("margin", [Candidate(0.2, "a"), Candidate(0.1, "a")], 1) == [1]  # no pHash needed


def test_one_confused_class_does_not_take_the_whole_balanced_budget():
    frames = _frames(
        (0.01, "rock"),
        (0.02, "rock"),
        (0.03, "rock"),
        (0.04, "rock"),
        (0.10, "person"),
        (0.12, "person"),
        (0.20, "belt"),
    )
    assert balanced(frames, 3) == [0, 4, 6]  # each class's least sure frame, the least sure class first
    assert balanced(frames, 5) == [0, 4, 6, 1, 5]  # then round again
    assert balanced(frames, 7) == [0, 4, 6, 1, 5, 2, 3]  # classes run out: the rest fill the budget
    assert balanced(frames, 10) == [0, 4, 6, 1, 5, 2, 3] and balanced(frames, 0) == []
    assert pick("margin", frames, 3) == [0, 1, 2]  # the default spends it all on rock
    with pytest.raises(ValueError, match="pHash"):
        balanced([Candidate(0.1, "rock")], 1)


def test_a_near_duplicate_of_a_picked_frame_waits_until_nothing_else_is_left():
    twin = _look(0) ^ 0b1011  # 3 bits from frame 0: a near duplicate
    frames = [
        Candidate(0.01, "rock", _look(0)),
        Candidate(0.02, "rock", twin),
        Candidate(0.05, "rock", _look(2)),
        Candidate(0.03, "person", twin ^ (1 << 40)),  # 4 bits from frame 0: still a near duplicate
        Candidate(0.30, "person", _look(4)),
    ]
    assert balanced(frames, 3) == [0, 4, 2]  # person's least sure frame repeats rock's: its next
    assert balanced(frames, 5) == [0, 4, 2, 1, 3]  # passed-over frames last, least sure first
    assert balanced(frames, 3, near_bits=0) == [0, 3, 1]  # only equal hashes: plain class-balanced order


def test_balanced_ties_go_to_the_earlier_frame():
    frames = _frames((0.1, "a"), (0.1, "b"), (0.1, "a"), (0.1, "b"))
    assert balanced(frames, 4) == [0, 1, 2, 3]
    assert balanced(list(reversed(frames)), 2) == [0, 1]


def test_phash_finds_the_same_scene_through_a_darker_lens():
    rng = np.random.default_rng(0)
    scene = cv2.GaussianBlur(rng.integers(0, 255, (96, 128, 3), dtype=np.uint8), (9, 9), 0)
    other = cv2.GaussianBlur(rng.integers(0, 255, (96, 128, 3), dtype=np.uint8), (9, 9), 0)
    darker = (scene * 0.8).astype(np.uint8)
    assert distance(phash(scene), phash(darker)) <= 4 < distance(phash(scene), phash(other))


def _capture(folder: Path, number: int, image: np.ndarray, prediction: dict, reasons: list[str]) -> Capture:
    path = folder / f"cam1_{number:08d}.jpg"
    cv2.imwrite(str(path), image)
    return Capture(
        number,
        path,
        "cam1",
        number,
        "2026-01-31T06:00:00.000+00:00",
        reasons,
        BundleTag("belt", "1.0.0", "onnx-fp32"),
        prediction,
        None,
        128,
        96,
        [],
    )


def _classified(label: str, probabilities: dict[str, float]) -> dict:
    return {
        "task": "classify",
        "label": label,
        "score": max(probabilities.values()),
        "probabilities": probabilities,
    }


def test_a_budget_over_stored_captures_takes_feedback_first_then_the_pick(tmp_path):
    rng = np.random.default_rng(1)
    scenes = [
        cv2.GaussianBlur(rng.integers(0, 255, (96, 128, 3), dtype=np.uint8), (9, 9), 0) for _ in range(4)
    ]
    captures = [
        _capture(tmp_path, 0, scenes[0], _classified("rock", {"rock": 0.50, "person": 0.48}), ["margin"]),
        _capture(tmp_path, 1, scenes[1], _classified("rock", {"rock": 0.52, "person": 0.47}), ["margin"]),
        _capture(tmp_path, 2, scenes[2], _classified("person", {"rock": 0.40, "person": 0.60}), ["margin"]),
        _capture(
            tmp_path, 3, scenes[3], _classified("rock", {"rock": 0.99, "person": 0.01}), ["event", "feedback"]
        ),
    ]
    assert [c.id for c in pick_captures(captures, 3)] == [3, 0, 1]  # the smallest margins
    assert [c.id for c in pick_captures(captures, 3, "balanced")] == [3, 0, 2]
    assert [c.id for c in pick_captures(captures, 1, "balanced")] == [3]
    detected = _capture(tmp_path, 4, scenes[0], {"task": "detect", "objects": []}, ["near_threshold"])
    for name in list_picks():
        with pytest.raises(ConfigError, match="capture 4: a detect prediction"):
            pick_captures([*captures, detected], 3, name)
    captures[1].path.unlink()  # only the balanced pick reads the images
    assert [c.id for c in pick_captures(captures, 3)] == [3, 0, 1]
    with pytest.raises(ConfigError, match="capture 1: cannot read"):
        pick_captures(captures, 3, "balanced")


def test_a_detectors_frame_is_as_unsure_as_its_box_nearest_the_filter():
    """Boxes under the filter count (near misses); a frame without any box is as sure as can be."""
    assert detection_margin([0.9, 0.27, 0.05], 0.3) == pytest.approx(0.03)
    assert detection_margin([0.9, 0.36], 0.3) == pytest.approx(0.06)
    assert detection_margin([], 0.3) == 1.0


def test_a_budget_over_detection_captures_takes_the_frames_nearest_the_filter_first(tmp_path):
    def detected(objects: list[float], below: list[float]) -> dict:
        found = Detections(
            [Detection("person", s, (0.1, 0.1, 0.3, 0.5)) for s in objects],
            [("person", s) for s in below],
            score_filter=0.3,
        )
        return prediction_json(found, ["person"])

    stored = detected([0.35], [0.25, 0.22, 0.06])
    assert stored["score_filter"] == 0.3 and [b["score"] for b in stored["below_filter"]] == [
        0.25,
        0.22,
        0.06,
    ]
    image = np.zeros((96, 128, 3), np.uint8)
    captures = [
        _capture(tmp_path, 0, image, stored, ["near_threshold"]),  # 0.05 from the filter at best
        _capture(tmp_path, 1, image, detected([0.95, 0.9], []), ["flicker"]),  # sure of everything
        _capture(tmp_path, 2, image, detected([0.9], [0.3]), ["near_threshold"]),  # a near miss at it
        _capture(tmp_path, 3, image, detected([0.33], [0.28]), ["near_threshold"]),  # 0.02
    ]
    assert [c.id for c in pick_captures(captures, 3)] == [2, 3, 0]
    old = _capture(tmp_path, 4, image, {"task": "detect", "objects": []}, ["near_threshold"])
    with pytest.raises(ConfigError, match="capture 4: a detect prediction without what a pick ranks by"):
        pick_captures([*captures, old], 3)


def test_the_export_cli_takes_a_budget_and_a_pick(tmp_path, tiny_bundle):
    from edge_runtime.siteloop.__main__ import main

    store = CaptureStore(
        CaptureConfig(enabled=True, folder=tmp_path / "captures", burst=10), BundleTag("t", "1", "x")
    )
    rng = np.random.default_rng(2)
    # red against green by this much, the last one the green side
    for index, (label, unsure) in enumerate([("red", 0.45), ("red", 0.05), ("red", 0.10), ("green", 0.30)]):
        image = cv2.GaussianBlur(rng.integers(0, 255, (96, 128, 3), dtype=np.uint8), (9, 9), 0)
        other = "green" if label == "red" else "red"
        probabilities = {"blue": 0.0, label: 0.5 + unsure / 2, other: 0.5 - unsure / 2}
        assert store.offer(
            Frame("cam1", index, 1.7e9 + index, 0.0, image), ["margin"], _classified(label, probabilities)
        )
    store.flush()
    store.close()
    export = [
        "export",
        "--captures",
        str(tmp_path / "captures"),
        "--bundle",
        str(tiny_bundle),
        "--format",
        "label-studio",
    ]

    def exported(*options: str) -> list[str]:
        out = tmp_path / "-".join(options)
        assert main([*export, "--out", str(out), *options]) == 0
        tasks = json.loads((out / "tasks.json").read_text())
        return sorted(t["data"]["image"].rsplit("_", 2)[1] for t in tasks)

    assert exported("--budget", "2") == ["00000001", "00000002"]  # the two smallest margins
    assert exported("--budget", "2", "--pick", "margin") == ["00000001", "00000002"]
    assert exported("--budget", "2", "--pick", "balanced") == ["00000001", "00000003"]  # a red, a green
    assert main([*export, "--out", str(tmp_path / "none"), "--pick", "balanced"]) == 2  # no --budget
    for refused_by_argparse in (["--budget", "0"], ["--budget", "2", "--pick", "nearest"]):
        with pytest.raises(SystemExit) as refused:
            main([*export, "--out", str(tmp_path / "none"), *refused_by_argparse])
        assert refused.value.code == 2
    assert not (tmp_path / "none").exists()
