"""The training configuration: a typed model validated at start-up, saved beside every run."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from train.augment import AugmentConfig


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Section):
    root: Path = Field(Path("runs/demo/data/classify"), description="class folders <root>/<split>/<class>/, or the CSV's folder")
    format: Literal["folders", "csv"] = Field("folders", description="folders: <split>/<class>/<image>; csv: path,label rows")
    csv: dict[str, Path] = Field(
        default_factory=dict,
        description="format=csv: split name -> CSV file (paths relative to the CSV); only 'train' needed with split=fraction",
    )
    split: Literal["folders", "fraction"] = Field(
        "folders", description="folders: train/val/test given; fraction: carve val/test out of train, seeded"
    )
    val_fraction: float = Field(0.15, ge=0, lt=1)
    test_fraction: float = Field(0.15, ge=0, lt=1)
    image_size: tuple[int, int] = Field((160, 160), description="model input (height, width)")
    workers: int = Field(2, ge=0, le=64, description="DataLoader worker processes (0: decode in the training process)")
    prefetch: int = Field(4, ge=1, le=64, description="batches each worker keeps ready")
    balance: Literal["none", "sampler", "loss"] = "none"

    @model_validator(mode="after")
    def _fractions_leave_training_data(self) -> DataConfig:
        if self.split == "fraction" and self.val_fraction + self.test_fraction >= 0.9:
            raise ValueError("val_fraction + test_fraction must leave at least 10% for training")
        return self


class ModelConfig(_Section):
    name: str = "efficientnet_lite0"
    weights: str = Field("DEFAULT", description="DEFAULT, a torchvision weights name, a .pth file, or none")


class OptimConfig(_Section):
    recipe: Literal["default", "seed"] = Field(
        "default", description="seed: SGD lr 0.001 momentum 0.9 on all layers; default: warm-up head, then all"
    )
    optimizer: Literal["adamw", "sgd"] = Field("adamw", description="default recipe's optimiser")
    epochs: int = Field(6, ge=1, le=1000)
    batch_size: int = Field(32, ge=1, le=4096, description="global batch (split across DDP processes)")
    lr: float = Field(1e-3, gt=0, le=10)
    backbone_lr_scale: float = Field(0.1, gt=0, le=1, description="default recipe: backbone lr = lr * this")
    warmup_epochs: int = Field(1, ge=0, description="default recipe: epochs with a frozen backbone")
    freeze_fraction: float = Field(
        0.3, ge=0, le=1, description="default recipe: share of backbone layers (input side) kept frozen after warm-up"
    )  # generic low-level filters; skipping their backward is the costliest part at high resolution
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
    amp: Literal["auto", "off", "bf16", "fp16"] = Field(
        "auto", description="mixed precision; auto: bf16/fp16 on CUDA, bf16 on CPUs with AVX512-BF16/AMX, else off"
    )
    channels_last: bool = True
    resume: bool = Field(False, description="continue from <out>/last.pt (optimizer, schedule, epoch, RNG, best so far)")
    max_steps_per_epoch: int | None = Field(None, ge=1, description="cap steps per epoch (smoke tests)")

    @field_validator("amp", mode="before")
    @classmethod
    def _yaml_off_is_false(cls, value: object) -> object:
        """YAML 1.1 reads a bare ``off`` as False; ``amp: off`` means what it says."""
        return "off" if value is False else value
