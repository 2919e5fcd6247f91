"""ONNX -> OpenVINO IR (FP32 and FP16-compressed weights)."""

from __future__ import annotations

from pathlib import Path

import openvino as ov


def convert_to_ir(onnx_path: Path, xml_path: Path, *, fp16: bool) -> Path:
    """Write ``xml_path`` (+ .bin); fp16 compresses weights, compute precision is the device's choice."""
    xml_path.parent.mkdir(parents=True, exist_ok=True)
    model = ov.convert_model(str(onnx_path))
    ov.save_model(model, str(xml_path), compress_to_fp16=fp16)
    return xml_path
