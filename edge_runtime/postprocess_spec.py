"""The manifest's ``postprocess`` section: one typed model per output kind, unknown keys refused.

A model's outputs are decoded by their kind, not by the task that trained it: ``scores`` (a class
vector per input: classify, signal), ``boxes`` (detections with NMS inside the graph) and ``mask``
(per-pixel class logits). A new task that emits one of these kinds needs no new decoder. Every
default the device applies lives here once, e.g. the detection score filter.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_SCORE_THRESHOLD = 0.5  # the device's detection score filter when the bundle sets none
GRAPH_MIN_SCORE = 0.05  # detections below this never leave an exported detector (the COCO evaluation floor)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ScoresPost(_Strict):
    """(N, classes) scores per input; the top class wins."""

    type: Literal["scores"] = "scores"
    softmax: bool = Field(True, description="False when the model already emits probabilities")

    def check_outputs(self, shapes: list[tuple[int | None, ...]], classes: int) -> str | None:
        return _class_axis(shapes, classes, f"(batch, {classes})")


class BoxesPost(_Strict):
    """(boxes xyxy in input pixels, scores, labels 0..K-1) for one frame, NMS already applied."""

    type: Literal["boxes"] = "boxes"
    outputs: tuple[str, str, str] = ("boxes", "scores", "labels")
    box_format: Literal["xyxy"] = "xyxy"
    coordinates: Literal["input_pixels"] = "input_pixels"
    score_threshold: float = Field(DEFAULT_SCORE_THRESHOLD, ge=0, le=1, description="the device's score cut")
    min_score: float = Field(GRAPH_MIN_SCORE, ge=0, le=1, description="the exported graph's own score floor")
    batch: Literal[1] = Field(1, description="detectors are exported for one frame per call")

    def check_outputs(self, shapes: list[tuple[int | None, ...]], classes: int) -> str | None:
        if len(shapes) < 3:
            return f"expected the outputs {', '.join(self.outputs)}, the model has {_shapes(shapes)}"
        if shapes[0][-1:] not in ((4,), (None,)):
            return f"expected boxes shaped (detections, 4), the model's first output is {_shapes(shapes[:1])}"
        return None


class MaskPost(_Strict):
    """(N, classes, H, W) per-pixel class logits at the input size, decoded by arg-max."""

    type: Literal["mask"] = "mask"
    output: Literal["logits"] = "logits"
    layout: Literal["NCHW"] = "NCHW"
    decode: Literal["argmax"] = "argmax"
    coordinates: Literal["input_pixels"] = "input_pixels"
    background: int = Field(0, ge=0, description="class index of pixels that are nothing in particular")

    def check_outputs(self, shapes: list[tuple[int | None, ...]], classes: int) -> str | None:
        return _class_axis(shapes, classes, f"(batch, {classes}, height, width)")


PostProcess = Annotated[ScoresPost | BoxesPost | MaskPost, Field(discriminator="type")]

# What manifests written before ``postprocess.type`` existed meant, by their task.
LEGACY_KIND = {"classify": "scores", "signal": "scores", "detect": "boxes", "segment": "mask"}


def _class_axis(shapes: list[tuple[int | None, ...]], classes: int, layout: str) -> str | None:
    """The first output must have ``layout``'s rank and as many entries on axis 1 as there are classes."""
    if not shapes or len(shapes[0]) != layout.count(",") + 1:
        return f"expected a {layout} output, the model has {_shapes(shapes)}"
    if shapes[0][1] not in (None, classes):
        return f"the model's output has {shapes[0][1]} classes (axis 1), the manifest lists {classes}"
    return None


def _shapes(shapes: list[tuple[int | None, ...]]) -> str:
    text = ["(" + ", ".join("?" if d is None else str(d) for d in shape) + ")" for shape in shapes]
    return ", ".join(text) or "none"
