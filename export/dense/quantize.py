"""INT8 for detectors and segmenters, both routes, with the detection head's decoding kept in float.

Box decoding, score sigmoids and NMS are arithmetic on coordinates, not activations: quantizing
them ruins boxes. ONNX Runtime quantizes only the listed op types; NNCF gets an ignored scope of
the decoding op types (``validate=False``: not every detector contains every type).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import nncf
import onnxruntime as ort
import openvino as ov
from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

from export.calibration import CalibrationSet
from export.quantize import _Reader


@dataclass(frozen=True)
class DenseInt8Options:
    """One attempt; the gate tries a list of these in order until one meets the budget."""

    ort_calibration: Literal["minmax", "entropy", "percentile"] = "minmax"
    nncf_preset: Literal["performance", "mixed"] = "performance"
    fast_bias_correction: bool = True

    def describe(self) -> str:
        return f"ort {self.ort_calibration}, nncf {self.nncf_preset} preset, {'fast' if self.fast_bias_correction else 'full'} bias correction"


# In order: the default, then the fixes (another calibration method / preset, full bias correction).
ATTEMPTS = (
    DenseInt8Options(),
    DenseInt8Options(ort_calibration="percentile", nncf_preset="mixed", fast_bias_correction=False),
)

_ORT_METHODS = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy, "percentile": CalibrationMethod.Percentile}


def quantize_dense_onnx(model_path: Path, calibration: CalibrationSet, output: Path, options: DenseInt8Options, op_types: tuple[str, ...] | None) -> Path:
    ort.set_default_logger_severity(3)
    quantize_static(
        str(model_path),
        str(output),
        _Reader(calibration.batches),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QInt8,
        weight_type=QuantType.QInt8,
        op_types_to_quantize=list(op_types) if op_types else None,
        calibrate_method=_ORT_METHODS[options.ort_calibration],
    )
    return output


def quantize_dense_openvino(xml_path: Path, calibration: CalibrationSet, output: Path, options: DenseInt8Options, ignored_types: tuple[str, ...]) -> Path:
    model = ov.Core().read_model(str(xml_path))
    # NNCF's full BiasCorrection refuses models with an If op (torchvision detectors have one):
    # such models keep the fast variant rather than failing the export.
    has_if = any(op.get_type_name() == "If" for op in model.get_ops())
    quantized = nncf.quantize(
        model,
        nncf.Dataset(calibration.batches),
        preset=nncf.QuantizationPreset.MIXED if options.nncf_preset == "mixed" else nncf.QuantizationPreset.PERFORMANCE,
        subset_size=len(calibration),
        fast_bias_correction=options.fast_bias_correction or has_if,
        ignored_scope=nncf.IgnoredScope(types=list(ignored_types), validate=False) if ignored_types else None,
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(quantized, str(output), compress_to_fp16=False)
    return output
