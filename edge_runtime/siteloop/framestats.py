"""Frame statistics for drift: brightness, contrast, sharpness and the model's confidence.

The same function measures the training images (the bundle builder writes the result into the
manifest's ``reference`` section) and a camera's recent frames on the device, so the two are
comparable by construction: a grey thumbnail of fixed size, whatever the camera's resolution.
Each statistic is kept as decile cut points and the share of the reference samples between them;
a camera's recent samples are compared with the Population Stability Index (PSI) over those bins.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal, get_args

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

Statistic = Literal["brightness", "contrast", "sharpness", "confidence"]
STATISTICS: tuple[Statistic, ...] = get_args(Statistic)
IMAGE_STATISTICS: tuple[Statistic, ...] = ("brightness", "contrast", "sharpness")
THUMBNAIL = (96, 72)  # (width, height): the camera-health probe's size; blind to sensor-noise detail
_QUANTILES = np.linspace(0.0, 1.0, 11)[1:-1]  # the 9 inner decile cut points
_FLOOR = 1e-4  # a bin no sample fell in still counts as this share (PSI's log needs it)


class Distribution(BaseModel):
    """One statistic of the reference data: bin cut points and the share of samples in each bin."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    cuts: list[float] = Field(description="ascending inner cut points; len(shares) = len(cuts) + 1")
    shares: list[float] = Field(description="share of the reference samples in each bin, summing to 1")
    median: float
    samples: int = Field(ge=1)

    @model_validator(mode="after")
    def _consistent(self) -> Distribution:
        if len(self.shares) != len(self.cuts) + 1:
            raise ValueError(
                f"{len(self.cuts)} cuts need {len(self.cuts) + 1} shares, got {len(self.shares)}"
            )
        if any(b < a for a, b in zip(self.cuts, self.cuts[1:], strict=False)):
            raise ValueError("cuts must be ascending")
        if any(s < 0 for s in self.shares) or abs(sum(self.shares) - 1.0) > 1e-3:
            raise ValueError(f"shares must be >= 0 and sum to 1, got {sum(self.shares):.4f}")
        return self

    def psi(self, values: Sequence[float]) -> float:
        """Population Stability Index of ``values`` against this distribution (0: the same).

        The recent counts get half a sample per bin (additive smoothing): an empty bin in a short
        window would otherwise weigh like a large shift. A sample of n values from the reference itself
        still scores about (bins - 1) / n by chance alone (PSI is a chi-square-like sum); that bias is
        subtracted, so a short window does not read as drift.
        """
        if not len(values):
            return 0.0
        bins = np.searchsorted(np.asarray(self.cuts), np.asarray(values, dtype=np.float64), side="right")
        counts = np.bincount(bins, minlength=len(self.shares)) + 0.5
        actual = counts / counts.sum()
        expected = np.maximum(np.asarray(self.shares), _FLOOR)
        psi = float(np.sum((actual - expected) * np.log(actual / expected)))
        return max(0.0, psi - (len(self.shares) - 1) / len(values))


class ReferenceStats(BaseModel):
    """The manifest's optional ``reference`` section: the training data as the drift check sees it."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    thumbnail: tuple[int, int] = Field(
        THUMBNAIL, description="(width, height) of the grey thumbnail measured"
    )
    source: str = Field("", description="what was measured, e.g. 'validation split, 200 images'")
    brightness: Distribution = Field(description="mean grey level (0..255)")
    contrast: Distribution = Field(description="standard deviation of the grey levels")
    sharpness: Distribution = Field(description="variance of the Laplacian")
    confidence: Distribution | None = Field(
        None,
        description="the model's top score per frame (classify: top class; detect: best box, 0 for none)",
    )

    def distribution(self, statistic: Statistic) -> Distribution | None:
        return getattr(self, statistic)


def image_statistics(image: np.ndarray, thumbnail: tuple[int, int] = THUMBNAIL) -> dict[Statistic, float]:
    """Brightness, contrast and sharpness of one BGR (or grey) uint8 frame, on a grey thumbnail."""
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    grey = cv2.resize(grey, thumbnail, interpolation=cv2.INTER_AREA)
    return {
        "brightness": float(grey.mean()),
        "contrast": float(grey.std()),
        "sharpness": float(cv2.Laplacian(grey, cv2.CV_64F).var()),
    }


def distribution(values: Sequence[float]) -> Distribution:
    """Decile cut points of ``values`` and the share of them in each bin (ties make bins uneven)."""
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0 or not np.isfinite(data).all():
        raise ValueError("a reference distribution needs at least one finite value")
    cuts = np.unique(np.quantile(data, _QUANTILES))
    bins = np.searchsorted(cuts, data, side="right")
    shares = np.bincount(bins, minlength=len(cuts) + 1) / data.size
    return Distribution(
        cuts=[round(float(c), 6) for c in cuts],
        shares=[float(s) for s in shares],
        median=round(float(np.median(data)), 6),
        samples=int(data.size),
    )


def reference_statistics(
    images: Iterable[np.ndarray], confidences: Sequence[float] | None = None, *, source: str = ""
) -> ReferenceStats:
    """The ``reference`` section for a bundle, from its held-out images (BGR uint8) and, optionally,
    the model's top score on each of them (as ``confidence_of`` computes it on the device)."""
    measured: dict[Statistic, list[float]] = {name: [] for name in IMAGE_STATISTICS}
    for image in images:
        for name, value in image_statistics(image).items():
            measured[name].append(value)
    if not measured["brightness"]:
        raise ValueError("reference statistics need at least one image")
    return ReferenceStats(
        thumbnail=THUMBNAIL,
        source=source,
        brightness=distribution(measured["brightness"]),
        contrast=distribution(measured["contrast"]),
        sharpness=distribution(measured["sharpness"]),
        confidence=distribution(confidences) if confidences else None,
    )
