"""Post-training INT8 quantization, two routes, both calibrated on the same ``CalibrationSet``.

- ONNX Runtime static quantization (QDQ, per-channel weights) for the ``onnx-int8`` artifact;
- NNCF post-training quantization of the OpenVINO IR for the ``openvino-int8`` artifact.
The signature follows NNCF's: the model, the data, then keyword options.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import nncf
import numpy as np
import onnxruntime as ort
import openvino as ov
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)

from export.calibration import CalibrationSet
from export.onnx_export import INPUT_NAME
from export.options import NncfQuantOptions, OrtQuantOptions


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
        _Reader(calibration.batches[: options.subset_size]),
        quant_format=QuantFormat.QDQ,
        per_channel=options.per_channel,
        activation_type=QuantType.QInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=_ORT_METHODS[options.calibration],
    )
    return output


def _nncf_kwargs(options: NncfQuantOptions, calibration: CalibrationSet) -> dict:
    return {
        "preset": nncf.QuantizationPreset.MIXED if options.preset == "mixed" else nncf.QuantizationPreset.PERFORMANCE,
        "subset_size": min(options.subset_size, len(calibration)),
        "fast_bias_correction": options.fast_bias_correction,
        "model_type": nncf.ModelType.TRANSFORMER if options.model_type == "transformer" else None,
        "ignored_scope": nncf.IgnoredScope(names=list(options.ignored_scope)) if options.ignored_scope else None,
    }


def _save(model: ov.Model, output: Path) -> Path:
    output.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(model, str(output), compress_to_fp16=False)
    return output


def quantize_openvino(xml_path: Path, calibration: CalibrationSet, output: Path, options: NncfQuantOptions = NncfQuantOptions()) -> Path:
    model = ov.Core().read_model(str(xml_path))
    quantized = nncf.quantize(model, nncf.Dataset(calibration.batches), **_nncf_kwargs(options, calibration))
    return _save(quantized, output)


# validation_fn(compiled_model, items) -> metric (higher is better), as NNCF's accuracy control calls it.
ValidationFn = Callable[[ov.CompiledModel, list], float]


def quantize_openvino_with_accuracy_control(
    xml_path: Path,
    calibration: CalibrationSet,
    validation_items: list,
    validation_fn: ValidationFn,
    output: Path,
    *,
    max_drop: float,
    options: NncfQuantOptions = NncfQuantOptions(),
) -> Path:
    """NNCF's accuracy-controlled PTQ: layers that cost the most metric are reverted to floating point
    until the drop (absolute, metric units) is within ``max_drop``."""
    model = ov.Core().read_model(str(xml_path))
    quantized = nncf.quantize_with_accuracy_control(
        model,
        nncf.Dataset(calibration.batches),
        nncf.Dataset(validation_items),
        validation_fn=lambda compiled, items: (validation_fn(compiled, list(items)), None),
        max_drop=max_drop,
        **_nncf_kwargs(options, calibration),
    )
    return _save(quantized, output)
