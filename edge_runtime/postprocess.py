"""Task post-processing: raw model outputs -> predictions the rules and reports understand.

One decoder per bundle task, registered by name; the manifest's ``postprocess`` section carries
its parameters. Boxes are normalised to 0..1 of the picture (the input is a stretched whole frame),
so zones and boxes stay valid when a camera comes back at another resolution.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np


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
    objects: list[Detection]


@dataclass(frozen=True)
class Segmentation:
    """Per-pixel classes (model resolution) and each class's share of the picture (0..1)."""

    mask: np.ndarray
    areas: dict[str, float]


Prediction = Classification | Detections | Segmentation
Decoder = Callable[[list[np.ndarray], list[str], Mapping[str, Any]], list[Any]]
_DECODERS: dict[str, Decoder] = {}


def register_postprocess(task: str) -> Callable[[Decoder], Decoder]:
    """Register the decoder of a bundle task; duplicates are refused."""

    def decorate(decoder: Decoder) -> Decoder:
        if task in _DECODERS:
            raise ValueError(f"post-processing for task {task!r} is already registered")
        _DECODERS[task] = decoder
        return decoder

    return decorate


def list_postprocess() -> list[str]:
    return sorted(_DECODERS)


def decoder_for(task: str) -> Decoder | None:
    return _DECODERS.get(task)


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


@register_postprocess("classify")
@register_postprocess("signal")
def _classify(
    outputs: list[np.ndarray], classes: list[str], params: Mapping[str, Any]
) -> list[Classification]:
    return classify(outputs, classes, apply_softmax=params.get("softmax", True))


@register_postprocess("detect")
def detect(outputs: list[np.ndarray], classes: list[str], params: Mapping[str, Any]) -> list[Detections]:
    """Decode ``boxes [N,K,4] xyxy, scores [N,K], labels [N,K]``, then per-class NMS.

    ``params``: ``score_threshold`` (0.25), ``nms_iou`` (0.5), ``input_size`` [w, h] when the boxes
    are in input pixels rather than 0..1.
    """
    boxes, scores, labels = (np.asarray(output) for output in outputs[:3])
    threshold = float(params.get("score_threshold", 0.25))
    iou = float(params.get("nms_iou", 0.5))
    width, height = params.get("input_size", (1, 1))
    scale = np.array([width, height, width, height], dtype=np.float32)
    results = []
    for image_boxes, image_scores, image_labels in zip(boxes, scores, labels, strict=True):
        keep = image_scores >= threshold
        xyxy = image_boxes[keep].astype(np.float32) / scale
        kept_scores, kept_labels = image_scores[keep].astype(np.float32), image_labels[keep].astype(int)
        xywh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1) if len(xyxy) else xyxy
        chosen = cv2.dnn.NMSBoxesBatched(
            xywh.tolist(), kept_scores.tolist(), kept_labels.tolist(), threshold, iou
        )
        results.append(
            Detections(
                [
                    Detection(classes[kept_labels[i]], float(kept_scores[i]), tuple(map(float, xyxy[i])))
                    for i in np.asarray(chosen, dtype=int).reshape(-1)
                ]
            )
        )
    return results


@register_postprocess("segment")
def segment(outputs: list[np.ndarray], classes: list[str], params: Mapping[str, Any]) -> list[Segmentation]:
    """Decode logits ``[N, C, H, W]`` into class masks and each class's share of the picture."""
    logits = np.asarray(outputs[0])
    results = []
    for image in logits:
        mask = image.argmax(axis=0)
        counts = np.bincount(mask.ravel(), minlength=len(classes)) / mask.size
        results.append(Segmentation(mask, {name: float(counts[i]) for i, name in enumerate(classes)}))
    return results
