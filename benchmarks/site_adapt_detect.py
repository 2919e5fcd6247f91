"""The shifted-site round for a detector: the frames, their boxes, the hard ones, and mAP@0.5.

``benchmarks.site_adapt`` runs this when the deployed bundle is a detector and ``--data`` is its YOLO
data (``data.yaml``, ``images/<split>``, ``labels/<split>``). The site's frames are the original ones
through ``site_shift.shift``; each box moves with the frame's turn (the box around the turned box, clipped
to the frame), as a labeller would draw it again. "Hard" is the labelling round's ``margin`` pick over
still frames: the frames whose boxes come nearest to the bundle's score filter (``detection_margin``).
Each model is measured by the export's own mAP@0.5 (``train.evaluation``) through edge_runtime, on the
site's test frames and the original test split.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml

from benchmarks.site_shift import shift_with_turn
from edge_runtime.model import BundleModel
from edge_runtime.postprocess_spec import BoxesPost
from edge_runtime.preprocess import read_image
from edge_runtime.siteloop.pick import detection_margin
from train.detection.data import BoxSample, read_detection_split
from train.evaluation import evaluate
from train.task import get_task


@dataclass(frozen=True)
class Frame:
    image: np.ndarray
    boxes: np.ndarray  # (n, 4) xyxy frame pixels
    labels: np.ndarray  # (n,) class indices


def read_split(root: Path, split: str, classes: list[str]) -> list[Frame]:
    """One split of the YOLO data, the images in memory."""
    samples = read_detection_split(root, split, "yolo", classes)[1]
    return [Frame(read_image(s.path), s.boxes, s.labels) for s in samples]


def shifted(frame: Frame, rng: np.random.Generator, severity: float) -> Frame:
    """The frame through the other site's camera, its boxes turned with it (empty ones dropped)."""
    image, turn = shift_with_turn(frame.image, rng, severity)
    height, width = image.shape[:2]
    x1, y1, x2, y2 = (frame.boxes[:, i] for i in range(4))
    corners = [(x1, y1), (x2, y1), (x1, y2), (x2, y2)]
    moved = np.stack([np.stack([x, y, np.ones_like(x)], 1) for x, y in corners]) @ turn.T  # (4, n, 2)
    low, high = moved.min(0), moved.max(0)
    boxes = np.concatenate([low, high], 1)
    boxes = np.clip(boxes, 0, [width, height, width, height]).astype(np.float32).reshape(-1, 4)
    kept = (boxes[:, 2] - boxes[:, 0] >= 2) & (boxes[:, 3] - boxes[:, 1] >= 2)
    return Frame(image, boxes[kept], frame.labels[kept])


def write_yolo(frames: list[Frame], folder: Path, classes: list[str]) -> Path:
    """YOLO data as the labelling import writes it (``images/``, ``labels/``, ``data.yaml``)."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "labels").mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        height, width = frame.image.shape[:2]
        cv2.imwrite(str(folder / "images" / f"{i:05d}.png"), frame.image)
        lines = [
            f"{label} {(b[0] + b[2]) / 2 / width:.6f} {(b[1] + b[3]) / 2 / height:.6f} "
            f"{(b[2] - b[0]) / width:.6f} {(b[3] - b[1]) / height:.6f}\n"
            for b, label in zip(frame.boxes, frame.labels, strict=True)
        ]
        (folder / "labels" / f"{i:05d}.txt").write_text("".join(lines))
    spec = {"path": ".", "train": "images", "val": "images", "test": "images", "names": classes}
    (folder / "data.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return folder


def nearness(model: BundleModel, frames: list[Frame]) -> np.ndarray:
    """Per frame, the labelling pick's ``detection_margin`` over every box the device sees (those under
    the score filter too, down to the graph's floor): the nearest box's distance to the filter, lower is
    harder."""
    post = model.interface.postprocess
    threshold = post.score_threshold if isinstance(post, BoxesPost) else 0.5
    found = []
    for frame in frames:
        scores = [d.score for d in model.detect(frame.image, min_score=0.0)[0]]
        found.append(detection_margin(scores, threshold))
    return np.asarray(found)


def map50(model: BundleModel, folder: Path) -> float:
    """mAP@0.5 of ``model`` on the YOLO data in ``folder`` (written by ``write_yolo``)."""
    samples: list[BoxSample] = read_detection_split(folder, "test", "yolo", model.interface.classes)[1]
    return round(evaluate(get_task("detect"), model, samples).value, 4)
