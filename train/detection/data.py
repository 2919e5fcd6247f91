"""Detection data in the three formats users have, read into one list of ``BoxSample``.

- YOLO: ``data.yaml`` (``names``, ``train``/``val``/``test`` image folders), labels in
  ``labels/<split>/<stem>.txt`` as ``class cx cy w h`` normalised to the image size;
- COCO: ``<root>/annotations/<split>.json`` (or ``<root>/<split>.json``), ``file_name`` relative to
  ``<root>/images/<split>/`` or ``<root>``; categories map to classes in id order;
- Pascal VOC: ``Annotations/*.xml``, ``JPEGImages/``, ``ImageSets/Main/<split>.txt``.
Boxes are kept as xyxy frame pixels; the dataset maps them into model-input pixels with the same
affine map ``edge_runtime`` uses to map predictions back.
"""

from __future__ import annotations

import json
import logging
import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import yaml

from edge_runtime.bundle import InputSpec
from edge_runtime.errors import ImageError
from edge_runtime.geometry import input_map
from edge_runtime.preprocess import preprocess, read_image
from train.augment import augment, photometric_only
from train.data import IMAGE_SUFFIXES, DataError
from train.detection.boxaug import BoxAugmentConfig, Boxed, augment_boxes

log = logging.getLogger(__name__)

DetectionFormat = Literal["yolo", "coco", "voc"]


@dataclass(frozen=True)
class BoxSample:
    path: Path
    boxes: np.ndarray  # (n, 4) float32 xyxy in frame pixels
    labels: np.ndarray  # (n,) int64 class indices 0..K-1


def read_detection_split(
    root: Path, split: str, data_format: DetectionFormat, classes: list[str] | None = None
) -> tuple[list[str], list[BoxSample]]:
    readers = {"yolo": read_yolo, "coco": read_coco, "voc": read_voc}
    classes, samples = readers[data_format](Path(root), split, classes)
    if not samples:
        raise DataError(f"{root}: no {split} images found for the {data_format} layout")
    return classes, samples


def read_yolo(root: Path, split: str, classes: list[str] | None = None) -> tuple[list[str], list[BoxSample]]:
    data_yaml = root / "data.yaml"
    if not data_yaml.is_file():
        raise DataError(f"{root}: no data.yaml (YOLO layout: data.yaml, images/<split>/, labels/<split>/)")
    spec = yaml.safe_load(data_yaml.read_text())
    classes = classes or read_yolo_names(data_yaml)
    if split not in spec:
        raise DataError(f"{data_yaml}: no {split!r} entry")
    images = root / spec[split]
    if not images.is_dir():
        raise DataError(f"{images}: image folder for split {split!r} not found")
    samples = []
    for path in sorted(p for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        label_file = Path(
            str(path).replace(f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}")
        ).with_suffix(".txt")
        rows = (
            np.loadtxt(label_file, ndmin=2, dtype=np.float32)
            if label_file.is_file() and label_file.stat().st_size
            else np.zeros((0, 5), np.float32)
        )
        if rows.shape[1] != 5:
            raise DataError(f"{label_file}: expected 'class cx cy w h' per line, got {rows.shape[1]} columns")
        height, width = _image_hw(path)
        cx, cy, w, h = (rows[:, i] for i in range(1, 5))
        boxes = np.stack(
            [(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height], axis=1
        )
        labels = rows[:, 0].astype(np.int64)
        if len(labels) and labels.max() >= len(classes):
            raise DataError(
                f"{label_file}: class {labels.max()} outside the {len(classes)} names in data.yaml"
            )
        samples.append(BoxSample(path, boxes.astype(np.float32), labels))
    return classes, samples


def read_yolo_names(data_yaml: Path) -> list[str]:
    """The class names of a YOLO ``data.yaml`` (a list, or a dict of index -> name), in index order."""
    names = (yaml.safe_load(data_yaml.read_text()) or {}).get("names", {})
    return [str(names[i]) for i in sorted(names)] if isinstance(names, dict) else [str(n) for n in names]


def read_coco(root: Path, split: str, classes: list[str] | None = None) -> tuple[list[str], list[BoxSample]]:
    candidates = [root / "annotations" / f"{split}.json", root / f"{split}.json"]
    annotation_file = next((c for c in candidates if c.is_file()), None)
    if annotation_file is None:
        raise DataError(
            f"{root}: no COCO annotations for {split!r} (looked for {', '.join(map(str, candidates))})"
        )
    coco = json.loads(annotation_file.read_text())
    categories = sorted(coco["categories"], key=lambda c: c["id"])
    classes = classes or [c["name"] for c in categories]
    index_of = {c["id"]: classes.index(c["name"]) for c in categories if c["name"] in classes}
    by_image: dict[int, list[dict]] = {}
    for ann in coco.get("annotations", []):
        if not ann.get("iscrowd", 0) and ann["category_id"] in index_of:
            by_image.setdefault(ann["image_id"], []).append(ann)
    samples = []
    for image in sorted(coco["images"], key=lambda i: i["file_name"]):
        path = next(
            (
                p
                for p in (
                    root / "images" / split / image["file_name"],
                    root / image["file_name"],
                    root / "images" / image["file_name"],  # CVAT's COCO export
                )
                if p.is_file()
            ),
            root / image["file_name"],
        )
        anns = by_image.get(image["id"], [])
        boxes = np.array(
            [
                [a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]]
                for a in anns
            ],
            np.float32,
        ).reshape(-1, 4)
        labels = np.array([index_of[a["category_id"]] for a in anns], np.int64)
        samples.append(BoxSample(path, boxes, labels))
    return classes, samples


def read_voc(root: Path, split: str, classes: list[str] | None = None) -> tuple[list[str], list[BoxSample]]:
    ids_file = root / "ImageSets" / "Main" / f"{split}.txt"
    if not ids_file.is_file():
        raise DataError(
            f"{ids_file}: not found "
            "(Pascal VOC layout: Annotations/, JPEGImages/, ImageSets/Main/<split>.txt)"
        )
    parsed = []
    for stem in ids_file.read_text().split():
        xml_file = root / "Annotations" / f"{stem}.xml"
        tree = ET.parse(xml_file).getroot()
        objects = [
            (
                obj.findtext("name", "").strip(),
                [float(obj.find("bndbox").findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")],
            )
            for obj in tree.iter("object")
            if obj.findtext("difficult", "0").strip() != "1"
        ]
        parsed.append((root / "JPEGImages" / tree.findtext("filename", f"{stem}.jpg"), objects))
    classes = classes or sorted({name for _, objects in parsed for name, _ in objects})
    samples = []
    for path, objects in parsed:
        unknown = {name for name, _ in objects} - set(classes)
        if unknown:
            raise DataError(f"{path}: objects {sorted(unknown)} are not among the classes {classes}")
        boxes = np.array([box for _, box in objects], np.float32).reshape(-1, 4)
        samples.append(BoxSample(path, boxes, np.array([classes.index(n) for n, _ in objects], np.int64)))
    return classes, samples


def _image_hw(path: Path) -> tuple[int, int]:
    """Height and width from the file's header: decoding every photo of a set only for its size took
    most of the start-up on real sets. Like ``read_image`` (cv2's IMREAD_UNCHANGED), EXIF orientation
    is not applied, so the size matches the pixels training reads."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            width, height = image.size
    except (OSError, ValueError) as exc:
        raise ImageError(f"{path}: not a readable image ({exc})") from exc
    return height, width


@dataclass(frozen=True)
class BoxLoader:
    """A training frame as (input tensor, target): boxes in input pixels, labels shifted by one
    (torchvision detectors reserve 0 for the background). Augmented when given an rng: the box-aware
    geometry first (mosaic draws its other frames from ``samples``), then the photometric ones."""

    spec: InputSpec
    config: BoxAugmentConfig
    samples: Sequence[BoxSample]

    def __call__(
        self, sample: BoxSample, rng: np.random.Generator | None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        item = _boxed(sample)
        if rng is not None:
            draw = lambda: _boxed(self.samples[int(rng.integers(len(self.samples)))])  # noqa: E731
            item = augment_boxes(item, self.config, rng, draw)
            item = Boxed(augment(item.image, photometric_only(self.config), rng), item.boxes, item.labels)
        in_boxes = input_map(item.image.shape[:2], self.spec).to_input(item.boxes)
        height, width = self.spec.size
        in_boxes = np.clip(in_boxes, 0, [width, height, width, height]).astype(np.float32)
        keep = (in_boxes[:, 2] - in_boxes[:, 0] >= 1) & (in_boxes[:, 3] - in_boxes[:, 1] >= 1)
        labels = torch.from_numpy(item.labels[keep] + 1)
        target = {"boxes": torch.from_numpy(in_boxes[keep]).reshape(-1, 4), "labels": labels}
        return torch.from_numpy(preprocess(item.image, self.spec)[0]), target


def _boxed(sample: BoxSample) -> Boxed:
    return Boxed(read_image(sample.path), sample.boxes, sample.labels)
