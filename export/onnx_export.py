"""PyTorch -> ONNX, checked by ``onnx.checker`` and by parity against PyTorch on real images."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from export.errors import ParityError
from export.options import OnnxOptions

INPUT_NAME = "images"
OUTPUT_NAME = "logits"


def export_onnx(model: nn.Module, example: np.ndarray, path: Path, options: OnnxOptions = OnnxOptions()) -> Path:
    """Export (dynamic batch by default); the TorchScript exporter (dynamo=False) handles every
    torchvision model, detectors included. Simplification runs before the checker and parity."""
    path.parent.mkdir(parents=True, exist_ok=True)
    model.eval()
    dynamic = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if options.dynamic_batch else None
    with torch.no_grad():
        torch.onnx.export(
            model,
            (torch.from_numpy(example),),
            str(path),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes=dynamic,
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
    max_abs_diff: float
    top1_agreement: float
    samples: int

    def as_dict(self) -> dict[str, float]:
        return {"max_abs_diff": self.max_abs_diff, "top1_agreement": self.top1_agreement, "samples": self.samples}


def check_parity(
    model: nn.Module, onnx_path: Path, batch: np.ndarray, *, atol: float = 1e-3, min_agreement: float = 1.0
) -> ParityReport:
    """Run the same real, preprocessed images through PyTorch and ONNX Runtime; raise when they differ."""
    with torch.no_grad():
        expected = model.eval()(torch.from_numpy(batch)).numpy()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    actual = session.run(None, {INPUT_NAME: batch})[0]
    report = ParityReport(
        max_abs_diff=float(np.abs(expected - actual).max()),
        top1_agreement=float((expected.argmax(1) == actual.argmax(1)).mean()),
        samples=len(batch),
    )
    if report.max_abs_diff > atol or report.top1_agreement < min_agreement:
        raise ParityError(
            f"{onnx_path}: ONNX output differs from PyTorch on {len(batch)} real images "
            f"(max |diff| {report.max_abs_diff:.2e} > {atol:.0e} or top-1 agreement "
            f"{report.top1_agreement:.3f} < {min_agreement})"
        )
    return report
