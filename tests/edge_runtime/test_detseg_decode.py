"""Detection and segmentation decoding on the device: numpy/OpenCV only, checked against preprocess."""

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from edge_runtime.bundle import InputSpec, ModelInterface
from edge_runtime.detection import below_filter, decode_boxes
from edge_runtime.geometry import input_map
from edge_runtime.postprocess import Detections, decoder_for
from edge_runtime.postprocess_spec import BoxesPost
from edge_runtime.preprocess import resize
from edge_runtime.segmentation import IGNORE_INDEX, decode_masks, mask_to_frame, mask_to_input

POST = BoxesPost(score_threshold=0.5, min_score=0.05)
CLASSES = ["person", "wood"]


@pytest.mark.parametrize("mode", ["stretch", "letterbox", "center_crop"])
def test_box_map_follows_the_resize_of_preprocess(mode):
    """A white rectangle in the frame lands where ``to_input`` says, and ``to_frame`` brings it back."""
    spec = InputSpec(size=(96, 128), resize=mode)
    frame = np.zeros((216, 384, 3), np.uint8)
    box = np.array([[150.0, 60.0, 250.0, 140.0]])
    frame[60:140, 150:250] = 255
    mapping = input_map(frame.shape[:2], spec)
    x1, y1, x2, y2 = mapping.to_input(box)[0]
    ys, xs = np.nonzero(resize(frame, spec)[..., 0] > 127)
    assert abs(xs.min() - x1) <= 1 and abs(xs.max() + 1 - x2) <= 1
    assert abs(ys.min() - y1) <= 1 and abs(ys.max() + 1 - y2) <= 1
    np.testing.assert_allclose(mapping.to_frame(mapping.to_input(box), frame.shape[:2]), box, atol=1e-3)


def test_decode_filters_low_scores_and_the_garbage_row_and_scales_to_the_frame():
    spec = InputSpec(size=(100, 100), resize="stretch")
    boxes = np.array([[10, 10, 50, 50], [0, 0, 10, 10], [np.nan, 0, 5, 5], [30, 30, 20, 20]], np.float32)
    scores = np.array([0.9, 0.2, 0.9, 0.9], np.float32)  # row 2 is OpenVINO's garbage row: not finite
    labels = np.array([1, 0, 0, 0], np.int64)
    detections = decode_boxes([boxes, scores, labels], (200, 400), spec, CLASSES, POST)
    assert len(detections) == 1
    assert detections[0].label == "wood" and detections[0].box == pytest.approx((40, 20, 200, 100))
    assert len(decode_boxes([boxes, scores, labels], (200, 400), spec, CLASSES, POST, min_score=0.1)) == 2


def test_boxes_under_the_filter_reach_the_hard_example_capture_not_the_rules():
    """A person scored 0.3 under a 0.5 filter is a near miss: kept apart from the objects, down to the
    graph's floor, highest first; below the floor, unknown labels and non-finite scores are not."""
    boxes = np.tile(np.array([[10, 10, 50, 50]], np.float32), (6, 1))
    scores = np.array([0.9, 0.2, 0.3, 0.04, np.nan, 0.4], np.float32)
    labels = np.array([1, 0, 0, 0, 0, 7], np.int64)
    assert below_filter([boxes, scores, labels], CLASSES, POST) == [
        ("person", pytest.approx(0.3)),
        ("person", pytest.approx(0.2)),
    ]
    interface = ModelInterface.model_validate(
        {"task": "detect", "classes": CLASSES, "input": {"size": [100, 100], "resize": "stretch"},
         "postprocess": POST.model_dump()}
    )  # fmt: skip
    (found,) = decoder_for("boxes")([boxes, scores, labels], interface, [(200, 400)])
    assert isinstance(found, Detections)
    assert [(d.label, round(d.score, 2)) for d in found.objects] == [("wood", 0.9)]
    assert [label for label, _ in found.below_filter] == ["person", "person"]


@pytest.mark.parametrize(
    ("postprocess", "complaint"),
    [
        ({"type": "yolo"}, "'scores', 'boxes', 'mask'"),
        ({"type": "boxes", "score_treshold": 0.3}, "score_treshold"),
    ],
)
def test_a_postprocess_it_does_not_know_is_refused_before_any_frame(postprocess, complaint):
    with pytest.raises(ValidationError, match=complaint):
        ModelInterface(
            task="detect", classes=CLASSES, input=InputSpec(size=(10, 10)), postprocess=postprocess
        )


@pytest.mark.parametrize("mode", ["stretch", "letterbox", "center_crop"])
def test_mask_round_trip_through_the_input_size(mode):
    spec = InputSpec(size=(64, 96), resize=mode)
    mask = np.zeros((120, 300), np.uint8)
    mask[30:90, 100:200] = 2
    into = mask_to_input(mask, spec)
    assert into.shape == (64, 96)
    if mode == "letterbox":
        assert (into == IGNORE_INDEX).any()
    back = mask_to_frame(np.where(into == IGNORE_INDEX, 0, into).astype(np.uint8), mask.shape, spec)
    assert back.shape == mask.shape
    assert (back == mask).mean() > 0.97


def test_decode_masks_gives_frame_sized_masks_and_fractions():
    spec = InputSpec(size=(32, 32), resize="stretch")
    logits = np.zeros((1, 3, 32, 32), np.float32)
    logits[0, 2, :, :16] = 5.0  # left half coal
    result = decode_masks([logits], [(60, 80)], spec, ["background", "belt", "coal"])[0]
    assert result.mask.shape == (60, 80)
    assert result.fractions["coal"] == pytest.approx(0.5) and sum(result.fractions.values()) == pytest.approx(
        1.0
    )
    assert cv2.countNonZero((result.mask == 2).astype(np.uint8)) == 60 * 40
