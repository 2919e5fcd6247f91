"""Task post-processing: raw model outputs -> predictions the rules and reports understand.

One decoder per output kind (the manifest's ``postprocess.type``: scores, boxes, mask), registered by
name, so a new task that emits a known kind needs no decoder of its own. The exported model's own
output contract (boxes
in input pixels, logits at the input size) is undone by ``edge_runtime.detection`` and
``edge_runtime.segmentation``; this module turns their frame-pixel results into what the rules
read. Rule-facing boxes are normalised to 0..1 of the frame, so zones and tripwires stay valid when
a camera comes back at another resolution.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from edge_runtime.bundle import ModelInterface
from edge_runtime.detection import below_filter, decode_boxes
from edge_runtime.errors import BundleError
from edge_runtime.postprocess_spec import BoxesPost, ScoresPost
from edge_runtime.registry import Registry
from edge_runtime.segmentation import Segmentation, decode_masks


@dataclass(frozen=True)
class Classification:
    """The top class of one frame and the full probability vector."""

    index: int
    label: str
    score: float
    probabilities: np.ndarray


@dataclass(frozen=True)
class Detection:
    """One object: class, score and box (x1, y1, x2, y2) in 0..1 of the frame."""

    label: str
    score: float
    box: tuple[float, float, float, float]

    @property
    def area(self) -> float:
        x1, y1, x2, y2 = self.box
        return max(0.0, x2 - x1) * max(0.0, y2 - y1)

    @property
    def bottom_centre(self) -> tuple[float, float]:
        """Where the object touches the ground: what a floor zone should contain."""
        return ((self.box[0] + self.box[2]) / 2, self.box[3])


@dataclass(frozen=True)
class Detections:
    objects: list[Detection]  # the boxes at or above the bundle's score filter: what the rules see
    # (label, score) of the boxes under the filter (down to the graph's floor), for the hard-example
    # capture only: a near miss of a safety class is the frame most worth a label
    below_filter: list[tuple[str, float]] = field(default_factory=list)
    score_filter: float | None = None  # the bundle's score filter that split the two (None: not known)


Prediction = Classification | Detections | Segmentation
FrameShapes = Sequence[tuple[int, int]] | None
Decoder = Callable[[list[np.ndarray], ModelInterface, FrameShapes], list[Prediction]]
_DECODERS: Registry[Decoder] = Registry("post-processing kind")
register_postprocess = _DECODERS.register
list_postprocess = _DECODERS.names
decoder_for = _DECODERS.require


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def classify(
    outputs: list[np.ndarray], classes: list[str], *, apply_softmax: bool = True
) -> list[Classification]:
    """Decode a (N, num_classes) output; ``apply_softmax`` is False when the model emits probabilities."""
    logits = np.asarray(outputs[0], dtype=np.float32).reshape(len(outputs[0]), -1)
    probabilities = softmax(logits) if apply_softmax else logits
    best = probabilities.argmax(axis=1)
    return [
        Classification(index=int(i), label=classes[int(i)], score=float(p[i]), probabilities=p)
        for i, p in zip(best, probabilities, strict=True)
    ]


@register_postprocess("scores")
def _classify(outputs: list[np.ndarray], model: ModelInterface, shapes: FrameShapes) -> list[Prediction]:
    post = model.postprocess
    return list(classify(outputs, model.classes, apply_softmax=isinstance(post, ScoresPost) and post.softmax))


@register_postprocess("boxes")
def _detect(outputs: list[np.ndarray], model: ModelInterface, frame_shapes: FrameShapes) -> list[Prediction]:
    """One frame's boxes (detectors run at batch 1), normalised to the frame for the rules."""
    if frame_shapes is None or len(frame_shapes) != 1:
        raise BundleError(f"detectors run one frame at a time and need its size; got {frame_shapes!r}")
    if not isinstance(model.postprocess, BoxesPost):
        raise BundleError(f"postprocess {model.postprocess.type!r} is not boxes")
    height, width = frame_shapes[0]
    post = model.postprocess
    found = decode_boxes(outputs, (height, width), model.input, model.classes, post)
    objects = [Detection(d.label, d.score, _normalised(d.box, width, height)) for d in found]
    return [Detections(objects, below_filter(outputs, model.classes, post), post.score_threshold)]


Box = tuple[float, float, float, float]


def _normalised(box: Box, width: int, height: int) -> Box:
    """Frame pixels -> 0..1 of the frame."""
    x1, y1, x2, y2 = box
    return (x1 / width, y1 / height, x2 / width, y2 / height)


@register_postprocess("mask")
def _segment(outputs: list[np.ndarray], model: ModelInterface, frame_shapes: FrameShapes) -> list[Prediction]:
    if frame_shapes is None:
        raise BundleError("segmentation needs the size of each frame to map its mask back")
    return list(decode_masks(outputs, list(frame_shapes), model.input, model.classes))
