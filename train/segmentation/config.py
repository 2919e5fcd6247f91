"""The segmentation training configuration (``task: segment``), validated at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from train.config import DataSection, DenseModelConfig, DenseRunConfig


class SegmentDataConfig(DataSection):
    root: Path = Field(
        Path("runs/demo/data/segment"), description="images/ + masks/ (with or without split folders)"
    )
    classes: list[str] | None = Field(None, description="class names by mask value; default: classes.json")
    image_size: tuple[int, int] = Field((256, 256), description="model input (height, width)")
    resize: Literal["stretch", "letterbox"] = "stretch"
    val_fraction: float = Field(
        0.2, gt=0, lt=1, description="flat folders only: seeded share held out for val"
    )
    test_fraction: float = Field(
        0.2, gt=0, lt=1, description="flat folders only: seeded share held out for test"
    )


class SegmentModelConfig(DenseModelConfig):
    name: str = "lraspp_efficientnet_lite0"  # ImageNet Lite0 backbone offline (PyPI), no hub download


class SegmentTrainConfig(DenseRunConfig):
    task: Literal["segment"] = "segment"
    out: Path = Path("runs/demo/train-segment")
    data: SegmentDataConfig = SegmentDataConfig()
    model: SegmentModelConfig = SegmentModelConfig()
