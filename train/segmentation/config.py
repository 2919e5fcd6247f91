"""The segmentation training configuration (``task: segment``), validated at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from train.augment import AugmentConfig
from train.dense import DenseOptimConfig, Section


class SegmentDataConfig(Section):
    root: Path = Field(Path("runs/demo/data/segment"), description="images/ + masks/ (with or without split folders)")
    classes: list[str] | None = Field(None, description="class names by mask value; default: classes.json")
    image_size: tuple[int, int] = Field((256, 256), description="model input (height, width)")
    resize: Literal["stretch", "letterbox"] = "stretch"
    val_fraction: float = Field(0.2, gt=0, lt=1, description="flat folders only: seeded share held out for val")
    test_fraction: float = Field(0.2, gt=0, lt=1, description="flat folders only: seeded share held out for test")
    workers: int = Field(2, ge=0, le=64)


class SegmentModelConfig(Section):
    name: str = "lraspp_mobilenet_v3_large"
    weights: str = Field("DEFAULT", description="DEFAULT, a torchvision weights name, a segmenter .pth, or none")
    weights_backbone: str = Field("none", description="ImageNet backbone when weights=none: DEFAULT, a weights name, or none")


class SegmentTrainConfig(Section):
    task: Literal["segment"] = "segment"
    out: Path = Path("runs/demo/train-segment")
    seed: int = 0
    data: SegmentDataConfig = SegmentDataConfig()
    model: SegmentModelConfig = SegmentModelConfig()
    optim: DenseOptimConfig = DenseOptimConfig()
    augment: AugmentConfig = AugmentConfig()
    device: Literal["auto", "cpu", "cuda"] = "auto"
    max_steps_per_epoch: int | None = Field(None, ge=1, description="cap steps per epoch (smoke tests)")
