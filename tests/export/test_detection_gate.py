"""The detection gate: mAP@0.5, every class's AP@0.5, and the safety classes' AP and recall at the
device's score filter, each against true FP32; recall comes from pycocotools."""

from pathlib import Path

import numpy as np
import pytest

from edge_runtime.detection import PixelDetection
from export.gate import GateBudget, GateChoice, judge
from train.detection.data import BoxSample
from train.detection.metrics import coco_map
from train.evaluation import EvalReport
from train.task import get_task

CLASSES = ["person", "helmet"]


def _report(map50: float, person: tuple[float, float], helmet_ap: float) -> EvalReport:
    per_class = {
        "person": {"ap50": person[0], "recall": person[1]},
        "helmet": {"ap50": helmet_ap, "recall": 0.5},
    }
    return EvalReport(metric="map50", value=map50, samples=50, per_class=per_class)


def test_the_gate_holds_safety_recall_and_every_class_ap():
    budget = GateBudget(
        max_drop_pp=1.0,
        max_class_drop_pp=1.0,
        safety_classes=("person",),
        max_per_class_drop_pp=5.0,
        safety_figures=("recall",),
    )
    reference = _report(0.60, (0.70, 0.80), 0.50)
    assert judge(reference, _report(0.595, (0.695, 0.795), 0.47), budget, "ap50").passed
    lost_people = judge(reference, _report(0.60, (0.70, 0.75), 0.50), budget, "ap50")
    assert not lost_people.passed and "recall of safety class 'person'" in lost_people.note
    lost_helmets = judge(reference, _report(0.595, (0.70, 0.80), 0.40), budget, "ap50")
    assert not lost_helmets.passed and "ap50 of class 'helmet' dropped 10.00 pp" in lost_helmets.note


def test_detection_defaults_hold_person_and_no_helmet_where_the_model_has_them():
    detect = get_task("detect")
    budget = GateChoice().resolve(detect, lambda name: name in {"person", "vest"})
    assert budget.safety_classes == ("person",) and budget.safety_figures == ("recall",)
    assert (budget.max_drop_pp, budget.max_class_drop_pp, budget.max_per_class_drop_pp) == (1.0, 1.0, 5.0)
    chosen = GateChoice(max_drop_pp=0.5, safety_classes=()).resolve(detect, lambda name: True)
    assert chosen.max_drop_pp == 0.5 and chosen.safety_classes == ()


def test_recall_counts_only_detections_the_device_score_filter_keeps():
    boxes = np.array([[10, 10, 50, 60], [60, 10, 90, 40]], np.float32)
    sample = BoxSample(Path("frame.png"), boxes, np.array([0, 1], np.int64))
    found = [PixelDetection(tuple(map(float, b)), i, CLASSES[i], 0.6) for i, b in enumerate(boxes)]

    def report(threshold: float) -> EvalReport:
        return coco_map([sample], [found], CLASSES, [(100, 100)], threshold)

    kept, filtered = report(0.5), report(0.7)
    assert kept.class_value("person", "recall") == pytest.approx(1.0)
    assert filtered.class_value("person", "recall") == 0.0
    assert filtered.class_value("person", "ap50") == kept.class_value("person", "ap50") == pytest.approx(1.0)
