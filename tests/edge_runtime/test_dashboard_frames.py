"""Live frames for viewers: drawn on the web side, each frame encoded once, no faster than live_fps."""

from __future__ import annotations

import time

import cv2
import numpy as np

from edge_runtime.config.belt import BeltLoadConfig
from edge_runtime.config.daemon import HttpConfig
from edge_runtime.config.rules import RuleConfig
from edge_runtime.live import LatestFrames, Seen
from edge_runtime.postprocess import Classification, Detection, Detections
from edge_runtime.segmentation import Segmentation
from edge_runtime.sources import Frame
from edge_runtime.web.annotate import (
    BELT,
    BOX,
    OVERLOAD,
    TRIPWIRE,
    ZONE,
    BeltOverlay,
    annotate,
    classes_of_interest,
)
from edge_runtime.web.frames import JpegCache

GREY = np.full((240, 320, 3), 90, np.uint8)


def _frame(index: int, image: np.ndarray = GREY) -> Frame:
    return Frame(camera="cam1", index=index, ts=time.time(), pts_s=index / 10, image=image)


def _has(image: np.ndarray, colour: tuple[int, int, int]) -> bool:
    return bool(np.all(image == colour, axis=-1).any())


def test_boxes_zones_and_tripwires_are_drawn_on_a_copy_scaled_to_the_live_width():
    rules = [
        RuleConfig(name="floor", labels=["person"], zone=[(0.1, 0.1), (0.9, 0.1), (0.5, 0.9)]),
        RuleConfig(name="gate", labels=["person"], tripwire={"line": ((0.0, 0.5), (1.0, 0.5))}),
        RuleConfig(name="elsewhere", camera="cam2", labels=["person"], zone=[(0, 0), (1, 0), (1, 1)]),
    ]
    frame = _frame(7, np.full((480, 640, 3), 90, np.uint8))
    seen = Seen(frame, Detections([Detection("person", 0.91, (0.2, 0.3, 0.4, 0.8))]))
    image = annotate(seen, rules, width=320)
    assert image.shape == (240, 320, 3) and np.all(frame.image == 90)  # the shared frame is untouched
    assert _has(image, ZONE) and _has(image, TRIPWIRE) and _has(image, BOX)
    plain = annotate(Seen(frame, Classification(0, "person", 0.9, np.array([0.9]))), [], width=960)
    assert plain.shape == (480, 640, 3) and not _has(plain, BOX)
    mask = np.zeros((480, 640), np.uint8)
    mask[:, 320:] = 1
    painted = annotate(Seen(frame, Segmentation(mask, {"belt": 0.5, "coal": 0.5})), [], width=640)
    assert not np.array_equal(painted[300, 100], painted[300, 500])  # each class its own tint


def test_each_frame_is_encoded_once_however_many_viewers_and_no_faster_than_live_fps():
    live, now = LatestFrames(), [50.0]
    cache = JpegCache(live, [], HttpConfig(live_fps=20), clock=lambda: now[0])
    assert cache.get("cam1") is None
    live.publish(_frame(1), Classification(0, "a", 0.9, np.array([0.9])))
    first = [cache.get("cam1") for _ in range(10)]
    assert cache.encoded == 1 and {jpeg.index for jpeg in first} == {1}
    live.publish(_frame(2), Classification(0, "a", 0.9, np.array([0.9])))
    assert cache.get("cam1").index == 1 and cache.encoded == 1  # within 1/live_fps: the cached one
    now[0] += cache.interval_s * 1.5
    newer = cache.get("cam1")
    assert newer.index == 2 and cache.encoded == 2
    decoded = cv2.imdecode(np.frombuffer(newer.data, np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == GREY.shape
    raw = cache.get("cam1", annotated=False)
    assert cache.encoded == 3 and raw.data != newer.data  # the zone editor's still has no banner


def test_the_belt_region_turns_red_on_overload():
    segmentation = Segmentation(np.zeros((240, 320), np.uint8), {"belt": 0.4, "coal": 0.6})
    region = [(0.2, 0.3), (0.8, 0.3), (0.8, 0.9), (0.2, 0.9)]
    calm = {"load": 0.5, "speed_mps": 2.5, "overloaded": False}
    image = annotate(Seen(_frame(1), segmentation), [], 320, BeltOverlay(region, calm))
    assert _has(image, BELT) and not _has(image, OVERLOAD)
    image = annotate(Seen(_frame(2), segmentation), [], 320, BeltOverlay(region, calm | {"overloaded": True}))
    assert _has(image, OVERLOAD) and not _has(image, BELT)


def test_a_mask_overlay_paints_only_the_classes_the_rules_and_the_belt_look_at():
    mask = np.zeros((240, 320), np.uint8)
    mask[:, 100:200], mask[:, 200:] = 1, 2  # background | belt | coal
    seen = Seen(_frame(3), Segmentation(mask, {"background": 0.3, "belt": 0.3, "coal": 0.4}))
    rules = [RuleConfig(name="spill", labels=["coal"]), RuleConfig(name="b", camera="cam2", labels=["belt"])]
    interest = classes_of_interest(rules, "cam1")
    assert interest == {"coal"}
    image = annotate(seen, rules, 320, interest=interest)
    assert np.all(image[120, 50] == 90) and np.all(image[120, 150] == 90)  # background and belt untouched
    assert not np.all(image[120, 250] == 90)  # coal tinted
    belt = BeltLoadConfig(region=[(0, 0), (1, 0), (1, 1)], label="belt")
    assert classes_of_interest([], "cam1", belt) == {"belt"}
    everything = annotate(seen, [], 320)  # nothing configured: all but background
    assert np.all(everything[120, 50] == 90) and not np.all(everything[120, 150] == 90)
