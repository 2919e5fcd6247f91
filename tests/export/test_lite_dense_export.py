"""Lite detectors and segmenters export to ONNX with decoding and NMS inside the graph, convert to
OpenVINO IR, and run through edge_runtime's ONNX Runtime and OpenVINO backends with the same answers."""

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from edge_runtime.backends.base import BackendOptions, create_backend
from edge_runtime.bundle import InputSpec
from edge_runtime.detection import decode_boxes
from edge_runtime.postprocess_spec import BoxesPost
from edge_runtime.preprocess import preprocess
from export.onnx_export import check_parity, export_onnx
from export.openvino_export import convert_to_ir
from train.lite_weights import LITE_MEAN, LITE_STD
from train.models import ModelRequest, build_model
from train.task import get_task

skimage_data = pytest.importorskip("skimage.data")

CLASSES = ["helmet", "no-helmet", "person"]
SIZE = (128, 160)
SPEC = InputSpec(size=SIZE, resize="letterbox", mean=LITE_MEAN, std=LITE_STD)


def _frame() -> np.ndarray:
    return cv2.cvtColor(skimage_data.chelsea(), cv2.COLOR_RGB2BGR)


DETECT = get_task("detect")


def _detector(name: str, cls_bias: float, tmp_path: Path) -> tuple[torch.nn.Module, dict[str, Path]]:
    """An untrained detector with spread class scores (or all ~0) and boxes of one stride's size.

    Untrained box regressors give degenerate boxes (zero height), whose IoU says nothing.
    """
    torch.manual_seed(0)
    detector = build_model("detect", name, ModelRequest(len(CLASSES), "DEFAULT", image_size=SIZE)).module
    head = detector.head
    with torch.no_grad():
        head.classification_head.cls_logits.weight.normal_(0, 0.05 if cls_bias > -10 else 0.0)
        head.classification_head.cls_logits.bias.fill_(cls_bias)
        regression = head.regression_head
        regression.bbox_reg.weight.zero_()
        # FCOS: one stride on each side of the location; RetinaNet: the anchors themselves
        regression.bbox_reg.bias.fill_(1.0 if hasattr(regression, "bbox_ctrness") else 0.0)
    model = DETECT.export_module(detector).eval()
    onnx_path = export_onnx(
        model,
        preprocess(_frame(), SPEC),
        tmp_path / "model.onnx",
        output_names=DETECT.output_names,
        dynamic_batch=DETECT.dynamic_batch,
    )
    return model, {
        "onnxruntime": onnx_path,
        "openvino": convert_to_ir(onnx_path, tmp_path / "openvino" / "model.xml", fp16=False),
    }


def _detect(backend: str, path: Path, frame: np.ndarray, min_score: float):
    outputs = create_backend(backend, path, BackendOptions()).infer(preprocess(frame, SPEC))
    return decode_boxes(outputs, frame.shape[:2], SPEC, CLASSES, BoxesPost(), min_score=min_score)


def _iou(a, b) -> float:
    x1, y1, x2, y2 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
    return inter / max(area(a) + area(b) - inter, 1e-9)


@pytest.mark.parametrize("name", ["fcos_efficientnet_lite0_fpn", "retinanet_efficientnet_lite0_fpn"])
def test_lite_detector_runs_the_same_in_both_runtimes(name, tmp_path):
    model, paths = _detector(name, -1.0, tmp_path)
    parity = check_parity(DETECT, model, paths["onnxruntime"], [preprocess(_frame(), SPEC)])
    assert parity.agreement >= 0.95
    frame = _frame()
    found = {backend: _detect(backend, path, frame, min_score=0.3) for backend, path in paths.items()}
    assert len(found["onnxruntime"]) >= 5  # the spread scores leave several boxes above 0.3
    matched = sum(
        any(d.label == o.label and _iou(d.box, o.box) >= 0.9 for o in found["openvino"])
        for d in found["onnxruntime"]
    )
    assert matched >= 0.9 * len(found["onnxruntime"])
    for det in found["onnxruntime"] + found["openvino"]:
        x1, y1, x2, y2 = det.box
        assert 0 <= x1 < x2 <= frame.shape[1] and 0 <= y1 < y2 <= frame.shape[0] and det.label in CLASSES


def test_lite_detector_that_finds_nothing_decodes_to_no_boxes_in_both_runtimes(tmp_path):
    """Every score is ~0, below the graph's floor; OpenVINO's garbage row must not become a box."""
    _, paths = _detector("fcos_efficientnet_lite0_fpn", -30.0, tmp_path)
    frame = _frame()
    for backend, path in paths.items():
        assert _detect(backend, path, frame, min_score=0.0) == [], backend


def test_lite_segmenter_runs_the_same_in_both_runtimes(tmp_path):
    spec = InputSpec(size=(96, 128), mean=LITE_MEAN, std=LITE_STD)
    segment = get_task("segment")
    built = build_model("segment", "lraspp_efficientnet_lite0", ModelRequest(3, "DEFAULT"))
    model = segment.export_module(built.module).eval()
    batch = preprocess(_frame(), spec)
    onnx_path = export_onnx(model, batch, tmp_path / "seg.onnx", output_names=segment.output_names)
    assert check_parity(segment, model, onnx_path, [batch]).agreement >= 0.95
    xml = convert_to_ir(onnx_path, tmp_path / "openvino" / "seg.xml", fp16=False)
    two = np.concatenate([batch, batch[:, :, ::-1].copy()])  # dynamic batch: two frames at once
    logits = {
        b: create_backend(b, p, BackendOptions()).infer(two)[0]
        for b, p in (("onnxruntime", onnx_path), ("openvino", xml))
    }
    assert logits["onnxruntime"].shape == (2, 3, 96, 128)
    # an untrained head's logits nearly tie: compare the pixels where the class is decided
    top2 = np.sort(logits["onnxruntime"], axis=1)[:, -2:]
    decided = top2[:, 1] - top2[:, 0] > 0.05 * logits["onnxruntime"].std()
    assert decided.mean() > 0.5
    same = logits["onnxruntime"].argmax(1) == logits["openvino"].argmax(1)
    assert same[decided].mean() >= 0.99
