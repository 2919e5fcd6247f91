"""An exported detector runs in ONNX Runtime on a frame where a pyramid level (here: every level) has no
candidate above the graph's score floor (issue 14: the PPE detector's onnx-int8 crashed in a Reshape).

The crash needs a graph whose intermediate shapes are recorded, as ONNX Runtime's quantizer records
them: its graph optimizer then fuses torchvision's ``clip_boxes_to_image`` reshape to ``{0, -1}``,
which no runtime can resolve on zero rows. The detector is traced on a frame where every level has
candidates, then its class bias is lowered in the file so that on the same frame none has.
"""

from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper, shape_inference

from edge_runtime.backends.base import BackendOptions, create_backend
from edge_runtime.bundle import InputSpec
from edge_runtime.preprocess import preprocess
from export.calibration import CalibrationSet
from export.onnx_export import export_onnx
from export.quantize import quantize_onnx
from train.lite_weights import LITE_MEAN, LITE_STD
from train.models import ModelRequest, build_model
from train.task import get_task

skimage_data = pytest.importorskip("skimage.data")

DETECT = get_task("detect")
SIZE = (128, 160)
SPEC = InputSpec(size=SIZE, resize="letterbox", mean=LITE_MEAN, std=LITE_STD)
DETECTORS = ["fcos_efficientnet_lite0_fpn", "retinanet_efficientnet_lite0_fpn"]


def _frames() -> list[np.ndarray]:
    cat = cv2.cvtColor(skimage_data.chelsea(), cv2.COLOR_RGB2BGR)
    return [cat, np.full_like(cat, 128)]


def _detector(name: str) -> torch.nn.Module:
    """Untrained, with class scores spread around 0.5: every level has candidates on any frame."""
    torch.manual_seed(0)
    detector = build_model("detect", name, ModelRequest(3, "none", image_size=SIZE)).module
    with torch.no_grad():
        detector.head.classification_head.cls_logits.weight.normal_(0, 0.05)
        detector.head.classification_head.cls_logits.bias.zero_()
    return detector.eval()


def _finding_nothing(path: Path, out: Path) -> Path:
    """The exported graph with its class bias at -30: no score reaches the graph's floor, on any level."""
    model = onnx.load(str(path))
    (bias,) = [t for t in model.graph.initializer if t.name.endswith("cls_logits.bias")]
    bias.CopyFrom(numpy_helper.from_array(np.full_like(numpy_helper.to_array(bias), -30.0), bias.name))
    onnx.save(model, str(out))
    return out


def _run(path: Path, frame: np.ndarray) -> list[np.ndarray]:
    return create_backend("onnxruntime", path, BackendOptions()).infer(preprocess(frame, SPEC))


@pytest.mark.parametrize("name", DETECTORS)
def test_a_detector_with_empty_levels_runs_in_onnx_runtime_fp32_and_int8(name, tmp_path):
    frames = _frames()
    model = DETECT.export_module(_detector(name)).eval()
    traced = export_onnx(
        model, preprocess(frames[0], SPEC), tmp_path / "model.onnx",
        output_names=DETECT.output_names, dynamic_batch=DETECT.dynamic_batch,
    )  # fmt: skip
    assert len(_run(traced, frames[0])[0]) > 0  # traced with candidates on every level
    empty = _finding_nothing(traced, tmp_path / "empty.onnx")
    inferred = tmp_path / "inferred.onnx"
    onnx.save(shape_inference.infer_shapes(onnx.load(str(empty))), str(inferred))
    calibration = CalibrationSet([preprocess(f, SPEC) for f in frames], ["cat", "grey"])
    int8 = quantize_onnx(empty, calibration, tmp_path / "int8.onnx", op_types=DETECT.ort_quantize_ops)
    for path in (empty, inferred, int8):
        for frame in frames:
            boxes, scores, labels = _run(path, frame)[:3]
            assert boxes.shape == (0, 4) and scores.shape == (0,) and labels.shape == (0,), path.name


@pytest.mark.parametrize("name", DETECTORS)
def test_the_exported_module_returns_the_detectors_own_detections(name):
    """Whatever keeps the exported graph shape-safe leaves PyTorch's detections as torchvision's."""
    detector = _detector(name)
    batch = torch.from_numpy(preprocess(_frames()[0], SPEC))
    with torch.no_grad():
        own = detector([batch[0]])[0]
        exported = DETECT.export_module(detector).eval()(batch)
    assert len(own["boxes"]) == detector.detections_per_img  # the limit binds: the extra ones take no place
    torch.testing.assert_close(exported[0], own["boxes"])
    torch.testing.assert_close(exported[1], own["scores"])
    torch.testing.assert_close(exported[2], own["labels"] - 1)
