"""ONNX export of detection/segmentation wrappers, and parity against PyTorch on real images.

Detectors: batch 1 (torchvision's detectors loop over images), a dynamic number of detections,
NMS inside the graph; the TorchScript exporter (``dynamo=False``) is used because the dynamo
exporter fails on torchvision detectors. Segmenters: dynamic batch, logits at the input size.
Parity compares what the device acts on: matched boxes (same label, IoU >= 0.9) or mask pixels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from export.errors import ParityError
from export.onnx_export import INPUT_NAME
from export.options import OnnxOptions


def export_dense_onnx(model: nn.Module, example: np.ndarray, path: Path, output_names: tuple[str, ...], *, dynamic_batch: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if dynamic_batch:
        axes = {INPUT_NAME: {0: "batch"}} | {name: {0: "batch"} for name in output_names}
    else:
        axes = {name: {0: "detections"} for name in output_names}
    with torch.no_grad():
        torch.onnx.export(
            model.eval(), (torch.from_numpy(example),), str(path), input_names=[INPUT_NAME], output_names=list(output_names),
            dynamic_axes=axes, opset_version=OnnxOptions().opset, dynamo=False,
        )
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    return path


@dataclass(frozen=True)
class DenseParity:
    samples: int
    agreement: float  # detect: share of PyTorch boxes matched; segment: share of equal mask pixels
    max_abs_diff: float  # detect: over matched box coordinates (pixels); segment: over logits

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    x1, y1 = np.maximum(box[0], boxes[:, 0]), np.maximum(box[1], boxes[:, 1])
    x2, y2 = np.minimum(box[2], boxes[:, 2]), np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return inter / np.maximum(area(box) + area(boxes) - inter, 1e-9)


def check_dense_parity(
    task: str, model: nn.Module, onnx_path: Path, batches: list[np.ndarray], *, min_agreement: float = 0.95, score_floor: float = 0.3
) -> DenseParity:
    """Run real preprocessed images through PyTorch and ONNX Runtime; raise ParityError when they differ.

    Detection counts PyTorch boxes scoring at least ``score_floor`` (boxes near the graph's score
    threshold may flip in or out on rounding noise, which is not disagreement).
    """
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    matched = total = 0
    max_diff = 0.0
    for batch in batches:
        with torch.no_grad():
            expected = model(torch.from_numpy(batch))
        actual = session.run(None, {INPUT_NAME: batch})
        if task == "segment":
            expected_np = expected.numpy()
            matched += int((expected_np.argmax(1) == actual[0].argmax(1)).sum())
            total += expected_np[:, 0].size
            max_diff = max(max_diff, float(np.abs(expected_np - actual[0]).max()))
            continue
        boxes, scores, labels = (t.numpy() for t in expected)
        for box, label in zip(boxes[scores >= score_floor], labels[scores >= score_floor], strict=True):
            total += 1
            same = actual[2] == label
            if same.any():
                ious = _iou(box, actual[0][same])
                if ious.max() >= 0.9:
                    matched += 1
                    max_diff = max(max_diff, float(np.abs(actual[0][same][ious.argmax()] - box).max()))
    report = DenseParity(samples=len(batches), agreement=matched / total if total else 1.0, max_abs_diff=max_diff)
    if report.agreement < min_agreement:
        raise ParityError(
            f"{onnx_path}: ONNX disagrees with PyTorch on {len(batches)} real images "
            f"({'box' if task == 'detect' else 'mask pixel'} agreement {report.agreement:.3f} < {min_agreement})"
        )
    return report
