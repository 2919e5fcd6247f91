"""Post-training INT8 quantization, two routes, both calibrated on the same ``CalibrationSet``.

- ONNX Runtime static quantization (QDQ, per-channel weights) for the ``onnx-int8`` artifact;
- NNCF post-training quantization of the OpenVINO IR for the ``openvino-int8`` artifact.
The signature follows NNCF's: the model, the data, then keyword options.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import nncf
import onnxruntime as ort
import openvino as ov
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static

from export.calibration import CalibrationSet
from export.onnx_export import INPUT_NAME


@dataclass(frozen=True)
class OrtQuantOptions:
    calibration: Literal["minmax", "entropy", "percentile"] = "minmax"
    per_channel: bool = True


@dataclass(frozen=True)
class NncfQuantOptions:
    preset: Literal["performance", "mixed"] = "performance"
    subset_size: int = 300
    fast_bias_correction: bool = True


class _Reader(CalibrationDataReader):
    def __init__(self, batches: list[np.ndarray]) -> None:
        self._items = iter(batches)

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._items, None)
        return None if batch is None else {INPUT_NAME: batch}


_ORT_METHODS = {
    "minmax": CalibrationMethod.MinMax,
    "entropy": CalibrationMethod.Entropy,
    "percentile": CalibrationMethod.Percentile,
}


def quantize_onnx(model_path: Path, calibration: CalibrationSet, output: Path, options: OrtQuantOptions = OrtQuantOptions()) -> Path:
    ort.set_default_logger_severity(3)  # the calibrator's sessions warn about every unused initialiser
    quantize_static(
        str(model_path),
        str(output),
        _Reader(calibration.batches),
        quant_format=QuantFormat.QDQ,
        per_channel=options.per_channel,
        activation_type=QuantType.QInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=_ORT_METHODS[options.calibration],
    )
    return output


def quantize_openvino(xml_path: Path, calibration: CalibrationSet, output: Path, options: NncfQuantOptions = NncfQuantOptions()) -> Path:
    model = ov.Core().read_model(str(xml_path))
    dataset = nncf.Dataset(calibration.batches)
    quantized = nncf.quantize(
        model,
        dataset,
        preset=nncf.QuantizationPreset.MIXED if options.preset == "mixed" else nncf.QuantizationPreset.PERFORMANCE,
        subset_size=min(options.subset_size, len(calibration)),
        fast_bias_correction=options.fast_bias_correction,
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(quantized, str(output), compress_to_fp16=False)
    return output
