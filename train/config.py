"""The training configuration: a typed model validated at start-up, saved beside every run."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from train.augment import AugmentConfig


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Section):
    root: Path = Field(Path("runs/demo/data/classify"), description="folder with train/ val/ test/ class folders")
    image_size: tuple[int, int] = Field((160, 160), description="model input (height, width)")
    workers: int = Field(2, ge=0, le=64)
    balance: Literal["none", "sampler", "loss"] = "none"


class ModelConfig(_Section):
    name: str = "efficientnet_lite0"
    weights: str = Field("DEFAULT", description="DEFAULT, a torchvision weights name, a .pth file, or none")


class OptimConfig(_Section):
    recipe: Literal["default", "seed"] = Field(
        "default", description="seed: SGD lr 0.001 momentum 0.9 on all layers; default: warm-up head, then all"
    )
    epochs: int = Field(6, ge=1, le=1000)
    batch_size: int = Field(32, ge=1, le=4096)
    lr: float = Field(1e-3, gt=0, le=10)
    backbone_lr_scale: float = Field(0.1, gt=0, le=1, description="default recipe: backbone lr = lr * this")
    warmup_epochs: int = Field(1, ge=0, description="default recipe: epochs with a frozen backbone")
    weight_decay: float = Field(0.01, ge=0)
    label_smoothing: float = Field(0.1, ge=0, lt=1)
    patience: int = Field(5, ge=1, description="early stopping: epochs without a better val top-1")


class TrainConfig(_Section):
    out: Path = Path("runs/demo/train")
    seed: int = 0
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    optim: OptimConfig = OptimConfig()
    augment: AugmentConfig = AugmentConfig()
    device: Literal["auto", "cpu", "cuda"] = "auto"
    max_steps_per_epoch: int | None = Field(None, ge=1, description="cap steps per epoch (smoke tests)")
