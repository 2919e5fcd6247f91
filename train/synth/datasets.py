"""The three still-image data sets: classification folders, YOLO detection and segmentation masks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from train.synth.labels import BELT_STATES, DETECT_CLASSES, SEGMENT_CLASSES
from train.synth.presets import SPLITS, SplitCounts
from train.synth.render import Rendered, render
from train.synth.scene import Scene, classify_scene, detect_scene, segment_scene
from train.synth.seeding import item_rng
from train.synth.writers import data_yaml, write_jpeg, write_json, write_png, yolo_labels

CLASSIFY_SIZE = (320, 180)
DETECT_SIZE = (384, 216)
SEGMENT_SIZE = (320, 180)


def write_classify(root: Path, seed: int, per_class: SplitCounts) -> dict[str, dict[str, int]]:
    """``root/<split>/<belt state>/NNNNN.jpg``; returns the image count per split and class."""
    counts: dict[str, dict[str, int]] = {}
    for split, count in per_class.items():
        counts[split] = {}
        for state in BELT_STATES:
            folder = root / split / state
            folder.mkdir(parents=True)
            for number in range(count):
                rng = item_rng(seed, "classify", SPLITS.index(split), BELT_STATES.index(state), number)
                write_jpeg(
                    folder / f"{number:05d}.jpg", render(classify_scene(rng, state, *CLASSIFY_SIZE)).image
                )
            counts[split][state] = count
    return counts


def write_detect(root: Path, seed: int, images: SplitCounts) -> dict[str, object]:
    """``root/images|labels/<split>/NNNNN.jpg|txt`` plus ``data.yaml``; returns image and box counts."""
    boxes = dict.fromkeys(DETECT_CLASSES, 0)
    scenes = _rendered(
        root, seed, images, "detect", "labels", lambda rng: detect_scene(rng, *DETECT_SIZE), boxes=True
    )
    for stem, frame in scenes:
        stem.with_suffix(".txt").write_text(yolo_labels(frame.boxes, DETECT_CLASSES, *DETECT_SIZE))
        for box in frame.boxes:
            boxes[box.label] += 1
    (root / "data.yaml").write_text(data_yaml(root, DETECT_CLASSES))
    return {"images": dict(images.items()), "boxes": boxes}


def write_segment(root: Path, seed: int, images: SplitCounts) -> dict[str, int]:
    """``root/images/<split>/NNNNN.jpg`` with ``root/masks/<split>/NNNNN.png`` (class index per pixel)."""
    scenes = _rendered(
        root, seed, images, "segment", "masks", lambda rng: segment_scene(rng, *SEGMENT_SIZE), seg=True
    )
    for stem, frame in scenes:
        write_png(stem.with_suffix(".png"), frame.seg)
    write_json(root / "classes.json", list(SEGMENT_CLASSES))
    return dict(images.items())


def _rendered(
    root: Path,
    seed: int,
    images: SplitCounts,
    kind: str,
    labels: str,
    scene: Callable[[np.random.Generator], Scene],
    **draw: bool,
) -> Iterator[tuple[Path, Rendered]]:
    """Each split's frames of ``kind``, rendered and written as JPEG; yields the label stem and the frame."""
    for split, count in images.items():
        (root / "images" / split).mkdir(parents=True)
        (root / labels / split).mkdir(parents=True)
        for number in range(count):
            frame = render(scene(item_rng(seed, kind, SPLITS.index(split), number)), **draw)
            write_jpeg(root / "images" / split / f"{number:05d}.jpg", frame.image)
            yield root / labels / split / f"{number:05d}", frame
