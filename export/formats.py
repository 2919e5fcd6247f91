"""The formats table: every artifact a bundle can hold, what it needs, and the function that makes it.

Requested formats are resolved (prerequisites added, unknown ones refused) before any work; each
format is one small function; INT8 artifacts are built by a rung of the fix ladder (the first rung
is the requested options), so the gate can rebuild them by the same function.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nncf
import numpy as np
from pydantic import BaseModel
from torch import nn

from edge_runtime.bundle import ModelInterface
from edge_runtime.model import Predictor
from export.calibration import CalibrationSet
from export.errors import ExportError
from export.ladder import Rung, first_rung
from export.onnx_export import export_onnx
from export.openvino_export import convert_to_ir
from export.options import NncfQuantOptions, OnnxOptions, OrtQuantOptions
from export.quantize import AccuracyControl, quantize_onnx, quantize_openvino
from train.evaluation import evaluate
from train.task import Task


@dataclass
class BuildContext:
    """What the format functions share: the model, its interface, calibration and validation data."""

    task: Task
    model: nn.Module  # as exported (the task's export module), eval mode
    interface: ModelInterface
    calibration: CalibrationSet
    options: Mapping[str, BaseModel]  # format key -> its validated options model
    validation: Sequence[Any] = ()  # samples NNCF's accuracy control scores on (the validation split)
    max_drop: float = 0.005  # the task's metric, as a fraction: NNCF accuracy control's budget
    produced: dict[str, Path] = field(default_factory=dict)


@dataclass(frozen=True)
class FormatSpec:
    key: str  # "<format>-<precision>", as in the manifest
    file: str  # path inside the bundle
    requires: tuple[str, ...]
    build: Callable[[BuildContext, Path], None]


def _onnx_fp32(ctx: BuildContext, target: Path) -> None:
    task, options = ctx.task, ctx.options["onnx-fp32"]
    if not isinstance(options, OnnxOptions):
        raise ExportError(f"onnx-fp32: options {type(options).__name__} are not ONNX export options")
    export_onnx(ctx.model, ctx.calibration.batches[0], target, options, task.output_names, task.dynamic_batch)


def _openvino(fp16: bool) -> Callable[[BuildContext, Path], None]:
    def build(ctx: BuildContext, target: Path) -> None:
        convert_to_ir(ctx.produced["onnx-fp32"], target, fp16=fp16)

    return build


def _int8(key: str) -> Callable[[BuildContext, Path], None]:
    def build(ctx: BuildContext, target: Path) -> None:
        options = ctx.options[key]
        if not isinstance(options, OrtQuantOptions | NncfQuantOptions):
            raise ExportError(f"{key}: options {type(options).__name__} are not quantization options")
        quantize(ctx, first_rung(options), target)

    return build


def quantize(ctx: BuildContext, rung: Rung, target: Path) -> None:
    """Build an INT8 artifact by one rung of the fix ladder."""
    task, options = ctx.task, rung.options
    if isinstance(options, OrtQuantOptions):
        quantize_onnx(ctx.produced["onnx-fp32"], ctx.calibration, target, options, task.ort_quantize_ops)
    elif isinstance(options, NncfQuantOptions):
        control = (
            AccuracyControl(_validation_dataset(ctx), _validation_fn(ctx), ctx.max_drop)
            if rung.accuracy_control
            else None
        )
        quantize_openvino(
            ctx.produced["openvino-fp32"], ctx.calibration, target, options, task.int8_ignored_types, control
        )
    else:
        raise ExportError(f"{rung.method}: nothing to rebuild {target.name} with")


def _validation_dataset(ctx: BuildContext) -> nncf.Dataset:
    """The validation samples; NNCF feeds the model their preprocessed tensors when it ranks layers."""
    prepare = Predictor(ctx.interface, lambda batch: [], name="validation").prepare
    return nncf.Dataset(list(ctx.validation), lambda sample: prepare([ctx.task.frame(sample)]))


def _validation_fn(ctx: BuildContext) -> Callable[[Any, list], float]:
    """The task's metric of a compiled OpenVINO model on the validation samples, through edge_runtime."""

    def validate(compiled: Any, samples: list) -> float:
        def infer(batch: np.ndarray) -> list[np.ndarray]:
            results = compiled([batch])
            return [np.asarray(results[output]) for output in compiled.outputs]

        return evaluate(ctx.task, Predictor(ctx.interface, infer, name="accuracy control"), samples).value

    return validate


FORMATS: dict[str, FormatSpec] = {
    spec.key: spec
    for spec in (
        FormatSpec("onnx-fp32", "model.onnx", (), _onnx_fp32),
        FormatSpec("openvino-fp32", "openvino/model.xml", ("onnx-fp32",), _openvino(fp16=False)),
        FormatSpec("openvino-fp16", "openvino/model.fp16.xml", ("onnx-fp32",), _openvino(fp16=True)),
        FormatSpec("onnx-int8", "model.int8.onnx", ("onnx-fp32",), _int8("onnx-int8")),
        FormatSpec("openvino-int8", "openvino/model.int8.xml", ("openvino-fp32",), _int8("openvino-int8")),
    )
}


def resolve_formats(requested: Sequence[str]) -> list[FormatSpec]:
    """Validate the request and add prerequisites (the FP32 ONNX reference always), in table order."""
    unknown = [key for key in requested if key not in FORMATS]
    if unknown:
        raise ExportError(f"unknown format(s) {unknown}; choose from: {', '.join(FORMATS)}")
    wanted: set[str] = set()
    pending = ["onnx-fp32", *requested]
    while pending:
        key = pending.pop()
        if key not in wanted:
            wanted.add(key)
            pending.extend(FORMATS[key].requires)
    return [spec for key, spec in FORMATS.items() if key in wanted]
