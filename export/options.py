"""Export options as a declared table: which options each format accepts, checked before any work.

Options arrive as ``FORMAT.OPTION=VALUE`` strings (``onnx-int8.calibration=entropy``); each format
names one pydantic model, so an unknown option, a value out of range, or an option given for a
format that was not requested is refused with the valid choices listed, before a model is loaded.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from export.errors import ExportError


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OnnxOptions(_Options):
    # 17 is the newest opset both ONNX Runtime 1.32 and OpenVINO 2026.4 run every op of our zoo in.
    opset: int = Field(17, ge=13, le=20, description="ONNX opset of the exported graph")
    dynamic_batch: bool = Field(True, description="export the batch axis as dynamic")
    simplify: bool = Field(False, description="run onnxslim after export (parity is checked after it)")


class IrOptions(_Options):
    """OpenVINO FP32/FP16 IR: converted from ONNX, nothing to choose (FP16 is its own format)."""


class OrtQuantOptions(_Options):
    calibration: Literal["minmax", "entropy", "percentile"] = "minmax"
    per_channel: bool = True
    subset_size: int = Field(300, ge=1, description="calibration images used, at most the set's size")


class NncfQuantOptions(_Options):
    preset: Literal["performance", "mixed"] = "performance"
    subset_size: int = Field(300, ge=1)
    fast_bias_correction: bool = True
    model_type: Literal["transformer"] | None = None
    ignored_scope: tuple[str, ...] = Field((), description="node names kept in floating point")


FORMAT_OPTIONS: dict[str, type[_Options]] = {
    "onnx-fp32": OnnxOptions,
    "openvino-fp32": IrOptions,
    "openvino-fp16": IrOptions,
    "onnx-int8": OrtQuantOptions,
    "openvino-int8": NncfQuantOptions,
}


def describe(key: str) -> str:
    fields = FORMAT_OPTIONS[key].model_fields
    return ", ".join(f"{name} (default {info.default!r})" for name, info in fields.items()) or "no options"


def parse_options(pairs: list[str], formats: list[str]) -> dict[str, _Options]:
    """``["onnx-int8.calibration=entropy", ...]`` -> one validated options model per requested format."""
    raw: dict[str, dict[str, object]] = {key: {} for key in formats}
    for pair in pairs:
        target, sep, value = pair.partition("=")
        key, dot, name = target.partition(".")
        if not sep or not dot:
            raise ExportError(
                f"option {pair!r} is not FORMAT.OPTION=VALUE (e.g. onnx-int8.calibration=entropy)"
            )
        if key not in FORMAT_OPTIONS:
            raise ExportError(
                f"option {pair!r}: unknown format {key!r}; choose from: {', '.join(FORMAT_OPTIONS)}"
            )
        if key not in raw:
            raise ExportError(
                f"option {pair!r} is for {key}, which is not being exported (formats: {', '.join(formats)})"
            )
        if name not in FORMAT_OPTIONS[key].model_fields:
            raise ExportError(f"option {pair!r}: {key} accepts {describe(key)}")
        raw[key][name] = value.split(",") if name == "ignored_scope" else value
    return {key: _validate(key, values) for key, values in raw.items()}


def _validate(key: str, values: dict[str, object]) -> _Options:
    try:
        return FORMAT_OPTIONS[key].model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ExportError(f"options for {key}: {problems}; {key} accepts {describe(key)}") from exc
