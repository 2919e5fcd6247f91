"""Detection and segmentation decoding, and rules over them: zones, minimum area, dwell."""

from __future__ import annotations

import numpy as np
import pytest

from edge_runtime.bundle import InputSpec, Manifest
from edge_runtime.config.rules import RuleConfig
from edge_runtime.errors import BundleError
from edge_runtime.postprocess import Detection, Detections, decoder_for, list_postprocess
from edge_runtime.postprocess_spec import LEGACY_KIND
from edge_runtime.rules import Rule
from edge_runtime.sources import Frame

CLASSES = ["person", "rock"]


def test_every_output_kind_has_a_decoder():
    assert list_postprocess() == ["boxes", "mask", "scores"]
    assert set(LEGACY_KIND.values()) <= set(list_postprocess())  # what older manifests' tasks meant


def _manifest(task: str, size: tuple[int, int], postprocess: dict | None = None) -> Manifest:
    artifact = {"file": "m.onnx", "sha256": "0" * 64, "bytes": 0, "format": "onnx", "precision": "fp32"}
    return Manifest(
        name="m",
        task=task,
        classes=CLASSES,
        input=InputSpec(size=size),
        postprocess=postprocess or {},
        artifacts=[artifact],
    )


def test_detect_scores_boxes_and_normalises_them_to_the_frame():
    """The exported detector's input-pixel boxes become 0..1 of the frame the rules look at."""
    post = {"type": "boxes", "box_format": "xyxy", "coordinates": "input_pixels", "score_threshold": 0.5}
    boxes = np.array([[0, 0, 80, 80], [100, 100, 150, 160]], np.float32)
    scores = np.array([0.9, 0.1], np.float32)
    labels = np.array([0, 1])
    decoder = decoder_for("boxes")
    (result,) = decoder([boxes, scores, labels], _manifest("detect", (160, 160), post), [(480, 640)])
    assert [(d.label, round(d.score, 2)) for d in result.objects] == [("person", 0.9)]  # 0.1 is below
    person = result.objects[0]
    assert person.box == pytest.approx((0.0, 0.0, 0.5, 0.5))
    assert person.area == pytest.approx(0.25) and person.bottom_centre == pytest.approx((0.25, 0.5))


def test_detect_refuses_a_batch():
    with pytest.raises(BundleError, match="one frame at a time"):
        decoder_for("boxes")(
            [np.zeros((0, 4)), np.zeros(0), np.zeros(0)], _manifest("detect", (8, 8)), [(8, 8)] * 2
        )


def test_segment_gives_class_shares_in_frame_pixels():
    logits = np.zeros((1, 2, 4, 4), np.float32)
    logits[0, 1, :, :1] = 1.0  # the first column is rock
    (result,) = decoder_for("mask")([logits], _manifest("segment", (4, 4)), [(8, 8)])
    assert result.fractions == {"person": 0.75, "rock": 0.25} and result.mask.shape == (8, 8)


def _frame(index: int, fps: float = 10.0) -> Frame:
    return Frame(camera="c", index=index, ts=0.0, pts_s=index / fps, image=np.zeros((2, 2, 3), np.uint8))


def _person(x: float, y: float, size: float = 0.2, score: float = 0.9) -> Detections:
    return Detections([Detection("person", score, (x - size / 2, y - size, x + size / 2, y))])


ZONE = [(0.5, 0.0), (1.0, 0.0), (1.0, 1.0), (0.5, 1.0)]  # the right half of the frame


@pytest.mark.parametrize(
    ("prediction", "matches"),
    [
        (_person(0.75, 0.9), True),
        (_person(0.25, 0.9), False),  # outside the zone
        (_person(0.75, 0.9, size=0.05), False),  # smaller than min_area
        (_person(0.75, 0.9, score=0.3), False),  # below min_score
        (Detections([Detection("rock", 0.9, (0.6, 0.6, 0.9, 0.9))]), False),  # another class
    ],
)
def test_a_detection_matches_by_zone_area_score_and_class(prediction, matches):
    rule = Rule(RuleConfig(name="r", labels=["person"], min_score=0.5, zone=ZONE, min_area=0.01))
    assert (rule.match(prediction) is not None) == matches


def test_dwell_holds_the_start_until_the_person_has_stayed():
    rule = Rule(
        RuleConfig(name="r", labels=["person"], zone=ZONE, dwell_s=1.0, debounce={"hits": 2, "window": 3})
    )
    started = [
        i for i in range(30) if (e := rule.update(_frame(i), _person(0.75, 0.9))) and e.phase == "start"
    ]
    assert started == [10]  # debounce alone would start at frame 1; 1 s at 10 fps is frame 10


WIRE = {"line": [[0.5, 0.0], [0.5, 1.0]]}  # a vertical line, drawn top to bottom


@pytest.mark.parametrize(
    ("direction", "path", "crossing_frames"),
    [
        ("any", [0.3, 0.4, 0.6, 0.7, 0.6, 0.4], [2, 5]),
        ("right_to_left", [0.3, 0.4, 0.6, 0.7, 0.6, 0.4], [2]),  # walking a->b (down), x grows = leftwards
        ("left_to_right", [0.3, 0.4, 0.6, 0.7, 0.6, 0.4], [5]),
        ("any", [0.3, 0.9], []),  # a jump further than max_jump is another object, not a crossing
    ],
)
def test_tripwire_counts_crossings_in_its_direction(direction, path, crossing_frames):
    rule = Rule(RuleConfig(name="r", labels=["person"], tripwire=WIRE | {"direction": direction}))
    hits = [i for i, x in enumerate(path) if rule.match(_person(x, 0.5), "c") is not None]
    assert hits == crossing_frames


def test_a_lasting_event_sends_updates_between_start_and_end():
    rule = Rule(
        RuleConfig(name="r", labels=["person"], update_every_s=1.0, debounce={"hits": 1, "window": 2})
    )
    phases = []
    for i in range(40):
        present = _person(0.75, 0.9) if i < 25 else Detections([])
        if (event := rule.update(_frame(i), present)) is not None:
            phases.append((event.phase, event.frame))
    assert phases == [("start", 0), ("update", 10), ("update", 20), ("end", 26)]
