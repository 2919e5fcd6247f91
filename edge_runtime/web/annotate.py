"""Draw what the model and the rules see onto a copy of a frame: boxes, labels, scores, zones, belt load.

Runs on the web thread for a viewer, never on the inference path. Colours are BGR.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from edge_runtime.config.belt import BeltLoadConfig
from edge_runtime.config.rules import RuleConfig
from edge_runtime.live import Seen
from edge_runtime.postprocess import Classification, Detections, Prediction
from edge_runtime.segmentation import IGNORE_INDEX, Segmentation

ZONE = (0, 165, 255)
TRIPWIRE = (255, 0, 255)
BOX = (0, 220, 0)
TEXT = (0, 255, 255)
BELT = (255, 200, 0)
OVERLOAD = (0, 0, 255)
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def classes_of_interest(
    rules: Sequence[RuleConfig], camera: str, belt: BeltLoadConfig | None = None
) -> frozenset[str]:
    """The classes a camera's rules (and belt monitor) look at: the only ones a mask overlay paints.

    Painting every class (background, belt, walls) hides the picture; an operator wants the coal or
    the person that matters. With nothing configured, every class but "background" is painted.
    """
    wanted = {label for rule in rules if rule.watches(camera) for label in rule.labels}
    if belt is not None and belt.watches(camera):
        wanted.add(belt.label)
    return frozenset(wanted)


@dataclass(frozen=True)
class BeltOverlay:
    """The belt region and the monitor's latest state (``BeltState.view()``) for one camera."""

    region: Sequence[tuple[float, float]]
    state: dict[str, object] | None


def annotate(
    seen: Seen,
    rules: Sequence[RuleConfig],
    width: int,
    belt: BeltOverlay | None = None,
    interest: frozenset[str] = frozenset(),
) -> np.ndarray:
    """The frame scaled to at most ``width`` pixels wide, with the prediction and the camera's rules drawn.

    ``interest``: the segmentation classes to paint (``classes_of_interest``); empty: all but background.
    """
    image = seen.frame.image
    height, frame_width = image.shape[:2]
    if frame_width > width:
        image = cv2.resize(image, (width, round(height * width / frame_width)), interpolation=cv2.INTER_AREA)
    else:
        image = image.copy()
    size = np.array(image.shape[1::-1], dtype=np.float32)
    if isinstance(seen.prediction, Segmentation):
        _draw_mask(image, seen.prediction, interest)
    for rule in rules:
        if not rule.watches(seen.frame.camera):
            continue
        if rule.zone is not None:
            points = (np.asarray(rule.zone, dtype=np.float32) * size).astype(np.int32)
            cv2.polylines(image, [points], isClosed=True, color=ZONE, thickness=2)
            _label(image, rule.name, tuple(points[0]), ZONE)
        if rule.tripwire is not None:
            a, b = (np.asarray(rule.tripwire.line, dtype=np.float32) * size).astype(np.int32)
            cv2.arrowedLine(image, tuple(a), tuple(b), TRIPWIRE, 2, tipLength=0.05)
            _label(image, rule.name, tuple(a), TRIPWIRE)
    if isinstance(seen.prediction, Detections):
        for obj in seen.prediction.objects:
            x1, y1, x2, y2 = (np.asarray(obj.box, dtype=np.float32).reshape(2, 2) * size).astype(int).ravel()
            cv2.rectangle(image, (x1, y1), (x2, y2), BOX, 2)
            _label(image, f"{obj.label} {obj.score:.2f}", (x1, y1), BOX)
    headline = _headline(seen, interest)
    if belt is not None:
        points = (np.asarray(belt.region, dtype=np.float32) * size).astype(np.int32)
        overloaded = bool(belt.state and belt.state["overloaded"])
        cv2.polylines(image, [points], isClosed=True, color=OVERLOAD if overloaded else BELT, thickness=2)
        if belt.state is not None:
            headline += f"  belt {float(belt.state['load']):.0%} -> {float(belt.state['speed_mps']):.2f} m/s"
            headline += "  OVERLOAD" if overloaded else ""
    _banner(image, headline)
    return image


def _headline(seen: Seen, interest: frozenset[str]) -> str:
    prediction: Prediction = seen.prediction
    head = f"{seen.frame.camera} #{seen.frame.index}"
    if isinstance(prediction, Classification):
        return f"{head}  {prediction.label} {prediction.score:.2f}"
    if isinstance(prediction, Detections):
        return f"{head}  {len(prediction.objects)} object(s)"
    painted = _painted(prediction, interest)
    shares = sorted(((n, prediction.fractions[n]) for n in painted), key=lambda item: -item[1])
    return f"{head}  " + ", ".join(f"{name} {share:.0%}" for name, share in shares[:3])


def _painted(segmentation: Segmentation, interest: frozenset[str]) -> list[str]:
    """The class names to paint, in the bundle's class order (``fractions`` keeps it)."""
    names = list(segmentation.fractions)
    return [n for n in names if n in interest] if interest else [n for n in names if n != "background"]


def _draw_mask(image: np.ndarray, segmentation: Segmentation, interest: frozenset[str]) -> None:
    mask = segmentation.mask
    if mask.shape[:2] != image.shape[:2]:
        mask = cv2.resize(mask, image.shape[1::-1], interpolation=cv2.INTER_NEAREST)
    names = list(segmentation.fractions)
    wanted = [names.index(name) for name in _painted(segmentation, interest)]
    hues = (mask.astype(np.uint16) * 47 % 180).astype(np.uint8)  # one hue per class, neighbours far apart
    colours = cv2.cvtColor(
        cv2.merge([hues, np.full_like(hues, 200), np.full_like(hues, 255)]), cv2.COLOR_HSV2BGR
    )
    painted = np.isin(mask, wanted) & (mask != IGNORE_INDEX)
    image[painted] = (0.55 * image[painted] + 0.45 * colours[painted]).astype(np.uint8)


def _banner(image: np.ndarray, text: str) -> None:
    cv2.rectangle(image, (0, 0), (image.shape[1], 22), (0, 0, 0), thickness=-1)
    cv2.putText(image, text, (4, 16), _FONT, 0.5, TEXT, 1, cv2.LINE_AA)


def _label(image: np.ndarray, text: str, corner: tuple[int, int], colour: tuple[int, int, int]) -> None:
    x, y = int(corner[0]), max(int(corner[1]) - 4, 34)
    cv2.putText(image, text, (x, y), _FONT, 0.45, colour, 1, cv2.LINE_AA)
