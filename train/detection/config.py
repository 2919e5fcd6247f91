"""The detection training configuration (``task: detect``), validated at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from train.augment import AugmentConfig
from train.dense import DenseOptimConfig, Section


class DetectDataConfig(Section):
    root: Path = Field(Path("runs/demo/data/detect"), description="YOLO root (data.yaml), COCO root, or VOC root")
    format: Literal["yolo", "coco", "voc"] = "yolo"
    classes: list[str] | None = Field(None, description="class order; default: from the data")
    image_size: tuple[int, int] = Field((320, 320), description="model input (height, width)")
    resize: Literal["stretch", "letterbox"] = "stretch"
    workers: int = Field(2, ge=0, le=64)


class DetectModelConfig(Section):
    name: str = "fasterrcnn_mobilenet_v3_large_320_fpn"
    weights: str = Field("DEFAULT", description="DEFAULT, a torchvision weights name, a detector .pth, or none")
    weights_backbone: str = Field("none", description="ImageNet backbone when weights=none: DEFAULT, a weights name, or none")
    trainable_backbone_layers: int | None = Field(None, ge=0, le=6)
    score_threshold: float = Field(0.5, ge=0, le=1, description="the device's default score filter (manifest)")


class DetectTrainConfig(Section):
    task: Literal["detect"] = "detect"
    out: Path = Path("runs/demo/train-detect")
    seed: int = 0
    data: DetectDataConfig = DetectDataConfig()
    model: DetectModelConfig = DetectModelConfig()
    optim: DenseOptimConfig = DenseOptimConfig()
    augment: AugmentConfig = AugmentConfig()
    device: Literal["auto", "cpu", "cuda"] = "auto"
    max_steps_per_epoch: int | None = Field(None, ge=1, description="cap steps per epoch (smoke tests)")
