"""Box sizes at the size the detector trains at, and a warning when a class's boxes get too small there.

``tiny_box_px`` judges a box in the photo's pixels; the detector sees it after the photo is resized to
``image_size``. The default detector's finest feature level has a stride of 8 px and objects under about
two strides are found poorly (docs/results.md: the helmets the shipped PPE detector missed had a median
side of 20 px in the 512 px photos, about 16 px at input 416; those it found 43 px). Every box scales
with the input size, so the size at which a class's boxes are large enough follows from one input size.
"""

from __future__ import annotations

import math

import numpy as np

from edge_runtime.bundle import InputSpec
from edge_runtime.geometry import input_map
from train.doctor.records import ImageRecord
from train.doctor.report import ClassSizes, DoctorConfig, ObjectSizes, Report

STEP = 32  # suggested sizes are multiples of the detector's coarsest stride


def short_sides(
    records: list[ImageRecord], image_size: tuple[int, int], resize: str
) -> dict[str, np.ndarray]:
    """class -> the short side of each of its boxes at ``image_size``, resized as training does."""
    spec = InputSpec(size=image_size, resize=resize)
    found: dict[str, list[float]] = {}
    for record in records:
        if record.boxes:
            scale = input_map(record.size_hw, spec)
            for name, width, height in record.boxes:
                found.setdefault(name, []).append(min(width * scale.scale_x, height * scale.scale_y))
    return {name: np.array(sides) for name, sides in found.items()}


def _small_count(sides: np.ndarray, config: DoctorConfig) -> int:
    return int(np.count_nonzero(sides < config.small_box_px))


def suggested_size(
    records: list[ImageRecord], name: str, sides: np.ndarray, config: DoctorConfig
) -> tuple[int, int]:
    """The smallest image_size (multiples of 32, image_size's aspect) at which at most ``small_box_share``
    of the class's boxes are under ``small_box_px``: the box at that quantile must reach the threshold."""
    allowed = math.floor(config.small_box_share * len(sides))  # boxes that may stay small
    if allowed >= len(sides):
        return config.image_size
    factor = config.small_box_px / max(float(np.sort(sides)[allowed]), 1e-6)
    height, width = (max(STEP, STEP * math.ceil(side * factor / STEP)) for side in config.image_size)
    # the letterbox rounds the scaled photo to whole pixels: a box right at the threshold may need a step more
    while _small_count(short_sides(records, (height, width), config.resize)[name], config) > allowed:
        height, width = height + STEP, width + STEP
    return height, width


def object_sizes(report: Report, records: list[ImageRecord], config: DoctorConfig) -> None:
    """Per class: box count, median short side in the photo and at image_size, share of small boxes; a
    ``small_objects`` warning (never an error: training can still run) for each class with too many."""
    at_input = short_sides(records, config.image_size, config.resize)
    if not at_input:
        return
    in_photo: dict[str, list[float]] = {}
    for record in records:
        for name, width, height in record.boxes:
            in_photo.setdefault(name, []).append(min(width, height))
    unnamed = sorted(set(at_input) - set(report.classes))  # YOLO without names: the ids
    order = [name for name in report.classes if name in at_input] + unnamed
    classes = {}
    for name in order:
        sides = at_input[name]
        classes[name] = ClassSizes(
            boxes=len(sides),
            median_photo_px=float(np.median(in_photo[name])),
            median_input_px=float(np.median(sides)),
            small_share=_small_count(sides, config) / len(sides),
            suggested_size=suggested_size(records, name, sides, config),
        )
    report.object_sizes = ObjectSizes(
        config.image_size, config.resize, config.small_box_px, config.small_box_share, classes
    )
    for name, sizes in classes.items():
        if sizes.small_share > config.small_box_share:
            report.add("warning", "small_objects", _advice(name, sizes, config))


def _advice(name: str, sizes: ClassSizes, config: DoctorConfig) -> str:
    height, width = config.image_size
    text = (
        f"{name}: {sizes.small_share:.0%} of its {sizes.boxes} boxes are under small_box_px="
        f"{config.small_box_px:g} px at image_size {height}x{width} ({config.resize}); median short side "
        f"{sizes.median_input_px:.1f} px ({sizes.median_photo_px:.1f} px in the photo). "
    )
    wanted, share = _spelled(sizes.suggested_size), f"{config.small_box_share:.0%}"
    if max(sizes.suggested_size) <= config.max_image_size:
        return text + f"Train at image_size={wanted} (at most {share} small there)"
    tiles = math.ceil(max(sizes.suggested_size) / max(config.image_size))
    return text + (
        f"Only image_size={wanted} leaves at most {share} small, above max_image_size="
        f"{config.max_image_size}: cut each photo into {tiles}x{tiles} tiles before training "
        "(adit trains and infers whole frames)"
    )


def _spelled(size: tuple[int, int]) -> str:
    """As ``image_size=`` is typed: ``416``, or ``[384,512]`` when not square."""
    return str(size[0]) if size[0] == size[1] else f"[{size[0]},{size[1]}]"
