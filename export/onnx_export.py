"""PyTorch -> ONNX, checked by ``onnx.checker`` and by parity against PyTorch on real inputs.

The TorchScript exporter (``dynamo=False``) handles every model of the zoo, torchvision's detectors
included (the dynamo exporter fails on them). What parity compares is the task's: top classes and
scores for classifiers, matched boxes for detectors, mask pixels for segmenters.
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
from export.options import OnnxOptions
from train.task import Task

INPUT_NAME = "images"


def export_onnx(
    model: nn.Module,
    example: np.ndarray,
    path: Path,
    options: OnnxOptions = OnnxOptions(),
    output_names: tuple[str, ...] = ("logits",),
    dynamic_batch: bool = True,
) -> Path:
    """Export with a dynamic batch (or, for batch-1 graphs such as detectors, a dynamic number of
    outputs). Simplification runs before the checker and parity."""
    path.parent.mkdir(parents=True, exist_ok=True)
    model.eval()
    if dynamic_batch and options.dynamic_batch:
        axes: dict[str, dict[int, str]] | None = {name: {0: "batch"} for name in (INPUT_NAME, *output_names)}
    elif dynamic_batch:
        axes = None
    else:
        axes = {name: {0: "detections"} for name in output_names}
    with torch.no_grad():
        torch.onnx.export(
            model,
            (torch.from_numpy(example),),
            str(path),
            input_names=[INPUT_NAME],
            output_names=list(output_names),
            dynamic_axes=axes,
            opset_version=options.opset,
            dynamo=False,
        )
    if options.simplify:
        import onnxslim  # workstation extra; imported here so a plain export does not need it

        onnx.save(onnxslim.slim(onnx.load(str(path))), str(path))
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    return path


@dataclass(frozen=True)
class ParityReport:
    samples: int
    agreement: float  # share of PyTorch's predictions ONNX makes too (classes, boxes or mask pixels)
    max_abs_diff: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def check_parity(task: Task, model: nn.Module, onnx_path: Path, batches: list[np.ndarray]) -> ParityReport:
    """Run the same real, preprocessed inputs through PyTorch and ONNX Runtime; raise when they differ."""
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    matched = total = 0
    max_diff = 0.0
    for batch in batches:
        with torch.no_grad():
            expected = model.eval()(torch.from_numpy(batch))
        expected = expected if isinstance(expected, tuple | list) else (expected,)
        agree, compared, diff = task.agreement(
            [t.numpy() for t in expected], session.run(None, {INPUT_NAME: batch})
        )
        matched, total, max_diff = matched + agree, total + compared, max(max_diff, diff)
    report = ParityReport(
        samples=len(batches), agreement=matched / total if total else 1.0, max_abs_diff=max_diff
    )
    too_far = task.parity_atol is not None and report.max_abs_diff > task.parity_atol
    if report.agreement < task.min_agreement or too_far:
        raise ParityError(
            f"{onnx_path}: ONNX output differs from PyTorch on {len(batches)} real input batches (agreement "
            f"{report.agreement:.3f}, needed {task.min_agreement}; max |diff| {report.max_abs_diff:.2e}, "
            f"allowed {task.parity_atol})"
        )
    return report
