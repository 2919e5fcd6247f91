"""Detection post-processing: the exported detector's (boxes, scores, labels) -> frame-pixel boxes.

Detectors are exported with NMS inside the graph and return boxes in model-input pixels (the
manifest's ``postprocess`` is a ``BoxesPost``); this module undoes the manifest's resize and filters
by score. The
score filter also drops the single garbage row OpenVINO returns for an exported Faster R-CNN
that found nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge_runtime.bundle import InputSpec
from edge_runtime.geometry import input_map
from edge_runtime.postprocess_spec import BoxesPost


@dataclass(frozen=True)
class PixelDetection:
    """One object in frame pixels."""

    box: tuple[float, float, float, float]  # x1, y1, x2, y2
    index: int
    label: str
    score: float


def decode_boxes(
    outputs: list[np.ndarray],
    frame_hw: tuple[int, int],
    spec: InputSpec,
    classes: list[str],
    postprocess: BoxesPost,
    *,
    min_score: float | None = None,
) -> list[PixelDetection]:
    """Decode one frame's outputs; ``min_score`` defaults to the manifest's ``score_threshold``."""
    threshold = postprocess.score_threshold if min_score is None else min_score
    boxes, scores, labels = (np.asarray(o) for o in outputs[:3])
    boxes = boxes.reshape(-1, 4).astype(np.float32)
    scores = scores.reshape(-1).astype(np.float32)
    labels = labels.reshape(-1).astype(np.int64)
    keep = (
        np.isfinite(scores)
        & (scores >= max(threshold, postprocess.min_score))
        & (labels >= 0)
        & (labels < len(classes))
        & np.isfinite(boxes).all(axis=1)
        & (boxes[:, 2] > boxes[:, 0])
        & (boxes[:, 3] > boxes[:, 1])
    )
    frame_boxes = input_map(frame_hw, spec).to_frame(boxes[keep], frame_hw)
    return [
        PixelDetection(
            box=(float(box[0]), float(box[1]), float(box[2]), float(box[3])),
            index=int(label),
            label=classes[int(label)],
            score=float(score),
        )
        for box, score, label in zip(frame_boxes, scores[keep], labels[keep], strict=True)
        if box[2] > box[0] and box[3] > box[1]
    ]


def below_filter(
    outputs: list[np.ndarray], classes: list[str], postprocess: BoxesPost
) -> list[tuple[str, float]]:
    """(label, score) of one frame's boxes scored under the device's filter, down to the graph's floor.

    The rules never see these; the hard-example capture does: a person scored just under the filter
    is the miss a labeller should look at. Scores and labels only (no boxes mapped), highest first.
    """
    scores = np.asarray(outputs[1]).reshape(-1).astype(np.float32)
    labels = np.asarray(outputs[2]).reshape(-1).astype(np.int64)
    under = (
        np.isfinite(scores)
        & (scores >= postprocess.min_score)
        & (scores < postprocess.score_threshold)
        & (labels >= 0)
        & (labels < len(classes))
    )
    order = np.argsort(-scores[under], kind="stable")
    return [
        (classes[int(i)], float(s)) for i, s in zip(labels[under][order], scores[under][order], strict=True)
    ]
