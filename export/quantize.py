"""Post-training INT8 quantization, two routes, both calibrated on the same ``CalibrationSet``.

- ONNX Runtime static quantization (QDQ, per-channel weights) for the ``onnx-int8`` artifact;
- NNCF post-training quantization of the OpenVINO IR for the ``openvino-int8`` artifact.
The signature follows NNCF's: the model, the data, then keyword options. A task may keep op types
in floating point (a detector's box decoding and NMS are arithmetic on coordinates, not activations).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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

# Calibration batches whose activations ONNX Runtime holds at once. Its histogram calibrators
# (entropy, percentile) keep every batch's intermediate outputs until the reader is exhausted: 300
# PPE photos at 416 px went past 20 GB and the kernel killed the export. Read in chunks of this
# many (ORT's ``CalibStridedMinMax``), each chunk's outputs are folded into the histograms and freed.
CALIBRATION_CHUNK = 8


class _Reader(CalibrationDataReader):
    """The calibration batches, readable in ``set_range`` chunks (what ``CalibStridedMinMax`` calls)."""

    def __init__(self, batches: list[np.ndarray]) -> None:
        self._batches = batches
        self._items = iter(batches)

    def __len__(self) -> int:
        return len(self._batches)

    def set_range(self, start_index: int, end_index: int) -> None:
        self._items = iter(self._batches[start_index:end_index])

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._items, None)
        return None if batch is None else {INPUT_NAME: batch}


def _chunk(batches: int) -> int:
    """The largest chunk of at most ``CALIBRATION_CHUNK`` that divides ``batches`` (ORT requires it)."""
    return max(size for size in range(1, min(CALIBRATION_CHUNK, batches) + 1) if batches % size == 0)


_ORT_METHODS = {
    "minmax": CalibrationMethod.MinMax,
    "entropy": CalibrationMethod.Entropy,
    "percentile": CalibrationMethod.Percentile,
}


def quantize_onnx(
    model_path: Path,
    calibration: CalibrationSet,
    output: Path,
    options: OrtQuantOptions = OrtQuantOptions(),
    op_types: tuple[str, ...] | None = None,
) -> Path:
    """Static QDQ quantization; ``op_types`` limits it to those ops (None: every supported op)."""
    ort.set_default_logger_severity(3)  # the calibrator's sessions warn about every unused initialiser
    reader = _Reader(calibration.batches[: options.subset_size])
    quantize_static(
        str(model_path),
        str(output),
        reader,
        quant_format=QuantFormat.QDQ,
        per_channel=options.per_channel,
        activation_type=QuantType.QInt8,
        weight_type=QuantType.QInt8,
        op_types_to_quantize=list(op_types) if op_types else None,
        calibrate_method=_ORT_METHODS[options.calibration],
        extra_options={"CalibStridedMinMax": _chunk(len(reader))},
    )
    return output


def _nncf_kwargs(
    model: ov.Model, options: NncfQuantOptions, calibration: CalibrationSet, ignored_types: tuple[str, ...]
) -> dict:
    # NNCF's full BiasCorrection refuses models with an If op (torchvision detectors have one):
    # such models keep the fast variant rather than failing the export.
    has_if = any(op.get_type_name() == "If" for op in model.get_ops())
    ignored = None
    if options.ignored_scope or ignored_types:  # validate=False: not every model contains every type
        ignored = nncf.IgnoredScope(
            names=list(options.ignored_scope), types=list(ignored_types), validate=False
        )
    return {
        "preset": nncf.QuantizationPreset.MIXED
        if options.preset == "mixed"
        else nncf.QuantizationPreset.PERFORMANCE,
        "subset_size": min(options.subset_size, len(calibration)),
        "fast_bias_correction": options.fast_bias_correction or has_if,
        "model_type": nncf.ModelType.TRANSFORMER if options.model_type == "transformer" else None,
        "ignored_scope": ignored,
    }


def _save(model: ov.Model, output: Path) -> Path:
    output.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(model, str(output), compress_to_fp16=False)
    return output


# validation_fn(compiled_model, items) -> metric (higher is better), as NNCF's accuracy control calls it.
ValidationFn = Callable[[ov.CompiledModel, list], float]


@dataclass(frozen=True)
class AccuracyControl:
    """NNCF's accuracy-controlled PTQ: the layers that cost the most metric are reverted to floating
    point until the drop (absolute, metric units) is within ``max_drop``."""

    validation: nncf.Dataset
    metric: ValidationFn
    max_drop: float


def quantize_openvino(
    xml_path: Path,
    calibration: CalibrationSet,
    output: Path,
    options: NncfQuantOptions = NncfQuantOptions(),
    ignored_types: tuple[str, ...] = (),
    control: AccuracyControl | None = None,
) -> Path:
    model = ov.Core().read_model(str(xml_path))
    kwargs = _nncf_kwargs(model, options, calibration, ignored_types)
    data = nncf.Dataset(calibration.batches)
    if control is None:
        return _save(nncf.quantize(model, data, **kwargs), output)
    quantized = nncf.quantize_with_accuracy_control(
        model,
        data,
        control.validation,
        validation_fn=lambda compiled, items: (control.metric(compiled, list(items)), None),
        max_drop=control.max_drop,
        **kwargs,
    )
    return _save(quantized, output)
