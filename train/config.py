"""Training configurations: typed models validated at start-up, saved beside every run.

``RunConfig`` is what the one engine reads, whatever the task: output folder, seed, device,
precision, resume, optimisation and augmentation. Each task subclasses it with its own ``data`` and
``model`` sections (and its own optimisation defaults); the classification task's are here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from train.augment import AugmentConfig


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataSection(Section):
    """What every task's data section has: how the training set is loaded."""

    workers: int = Field(
        2, ge=0, le=64, description="DataLoader worker processes (0: decode in the training process)"
    )
    prefetch: int = Field(4, ge=1, le=64, description="batches each worker keeps ready")


class ModelConfig(Section):
    name: str = "efficientnet_lite0"
    weights: str = Field("DEFAULT", description="DEFAULT, a torchvision weights name, a .pth file, or none")


class DenseModelConfig(ModelConfig):
    """Detectors and segmenters: a whole pretrained model, or an ImageNet backbone under a new head."""

    weights: str = Field(
        "DEFAULT", description="DEFAULT, a torchvision weights name, a whole-model .pth, or none"
    )
    weights_backbone: str = Field(
        "none", description="ImageNet backbone when weights=none: DEFAULT, a name, or none"
    )


class OptimConfig(Section):
    recipe: Literal["default", "seed"] = Field(
        "default",
        description="seed: SGD lr 0.001 momentum 0.9 on all layers; default: warm-up head, then all",
    )
    optimizer: Literal["adamw", "sgd"] = Field("adamw", description="default recipe's optimiser")
    epochs: int = Field(6, ge=0, le=1000, description="0: only evaluate and checkpoint the initial weights")
    batch_size: int = Field(32, ge=1, le=4096, description="global batch (split across DDP processes)")
    lr: float = Field(1e-3, gt=0, le=10)
    backbone_lr_scale: float = Field(0.1, gt=0, le=1, description="default recipe: backbone lr = lr * this")
    warmup_epochs: int = Field(
        1, ge=0, description="default recipe: epochs with a frozen backbone (head only)"
    )
    freeze_fraction: float = Field(
        0.3,
        ge=0,
        le=1,
        description="default recipe: share of backbone layers (input side) kept frozen after warm-up",
    )  # generic low-level filters; skipping their backward is the costliest part at high resolution
    warmup_fraction: float = Field(
        0.05, ge=0, lt=1, description="share of a stage's steps with a linear lr warm-up"
    )
    weight_decay: float = Field(0.01, ge=0)
    label_smoothing: float = Field(0.1, ge=0, lt=1, description="classifiers, default recipe")
    patience: int = Field(5, ge=1, description="early stopping: epochs without a better validation metric")
    keep: Literal["best", "last"] = Field(
        "best",
        description="the checkpoint test and export use: best validation metric, or the last epoch's (a "
        "fixed schedule, e.g. a few-shot step, whose labels are the training windows, not the validation)",
    )
    max_minutes: float | None = Field(
        None,
        gt=0,
        description="wall-time budget of the training steps: once spent, the epoch in progress ends, is "
        "validated and checkpointed, and training stops (the schedule still follows epochs)",
    )
    precise_bn: bool = Field(
        False, description="re-estimate BatchNorm statistics over the training batches each epoch"
    )
    freeze_bn: bool = Field(
        False, description="keep the backbone's BatchNorm statistics and affine parameters as pretrained"
    )  # small detection batches re-estimate them badly (issue 14)
    freeze_stages: int | None = Field(
        None,
        ge=0,
        le=16,
        description="keep the stem and this many backbone stages frozen (models that declare stages); "
        "None: freeze_fraction decides",
    )
    norm_decay: bool = Field(True, description="False: no weight decay on norms and biases (1-d parameters)")
    ema: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="weight EMA decay (timm ModelEmaV3 with warm-up); validation, test and checkpoints use "
        "the averaged weights; 0: off",
    )

    @model_validator(mode="after")
    def _precise_bn_needs_trained_bn(self) -> OptimConfig:
        if self.precise_bn and self.freeze_bn:
            raise ValueError("precise_bn re-estimates statistics that freeze_bn keeps: choose one")
        return self


class DenseOptimConfig(OptimConfig):
    """Detectors and segmenters: every layer from the first step, BatchNorm statistics re-estimated."""

    epochs: int = Field(10, ge=0, le=1000, description="0: only evaluate and checkpoint the initial weights")
    batch_size: int = Field(4, ge=1, le=1024, description="global batch (split across DDP processes)")
    backbone_lr_scale: float = Field(1.0, gt=0, le=1, description="default recipe: backbone lr = lr * this")
    warmup_epochs: int = Field(
        0, ge=0, description="default recipe: epochs with a frozen backbone (head only)"
    )
    freeze_fraction: float = Field(
        0.0, ge=0, le=1, description="share of backbone layers (input side) kept frozen"
    )
    weight_decay: float = Field(1e-4, ge=0)
    label_smoothing: float = Field(
        0.0, ge=0, lt=1, description="not used by detection and segmentation losses"
    )
    precise_bn: bool = Field(
        True, description="re-estimate BatchNorm statistics over the training batches each epoch"
    )


class SiteSection(Section):
    """Retraining on a site's labels (``train.adapt``): the new labels plus a replay of the old data."""

    data: Path = Field(description="the labelling import's output (python -m edge_runtime.siteloop import)")
    replay: float = Field(
        0.5, ge=0, le=1, description="share of the original training split trained beside them (seeded)"
    )
    # The retraining's recipe (train.adapt.retraining): it replaces optim's epochs and warm-up (the head is
    # trained already), scales its learning rate and may keep BatchNorm as deployed, so the model learns
    # the site without forgetting the original data; it keeps the last epoch (optim.keep: last). The
    # defaults are the recipe of the measured round (docs/results/site-shift.md: 2 epochs, full learning
    # rate, BatchNorm trained) with twice its replay.
    epochs: int = Field(2, ge=1, le=100, description="retraining epochs (optim.epochs; no head warm-up)")
    lr_scale: float = Field(1.0, gt=0, le=1, description="the retraining's learning rate: optim.lr times it")
    freeze_bn: bool = Field(
        False, description="keep the backbone's BatchNorm as deployed (optim.freeze_bn) while retraining"
    )
    interpolate: float = Field(
        1.0,
        gt=0,
        le=1,
        description="WiSE-FT: the saved weights are (1 - it) * the starting model's + it * the retrained "
        "ones (train.adapt.interpolate); 1: the retrained weights as they are",
    )


class RunConfig(Section):
    """The engine's view of any task's configuration."""

    task: str
    out: Path = Path("runs/demo/train")
    seed: int = 0
    init: Path | None = Field(
        None, description="start from this checkpoint's weights and preprocessing (fine-tuning)"
    )
    init_from: Path | None = Field(
        None, description="a deployed bundle: start from the checkpoint it was exported from (its provenance)"
    )
    site: SiteSection | None = Field(None, description="train on a site's new labels plus a replay sample")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: Literal["auto", "off", "bf16", "fp16"] = Field(
        "auto",
        description="mixed precision; auto: bf16/fp16 on CUDA, bf16 on CPUs with AVX512-BF16/AMX, else off",
    )
    channels_last: bool = Field(
        True, description="NHWC memory layout for image models (faster convolutions on CPU)"
    )
    resume: bool = Field(
        False, description="continue from <out>/last.pt (optimizer, schedule, epoch, RNG, best so far)"
    )
    max_steps_per_epoch: int | None = Field(None, ge=1, description="cap steps per epoch (smoke tests)")
    data: DataSection = DataSection()
    model: ModelConfig = ModelConfig()
    optim: OptimConfig = OptimConfig()
    augment: AugmentConfig = AugmentConfig()

    @model_validator(mode="after")
    def _one_starting_point(self) -> RunConfig:
        if self.init is not None and self.init_from is not None:
            raise ValueError("init and init_from both set: start from a checkpoint or a bundle, not both")
        averaged = self.site is not None and self.site.interpolate < 1
        if averaged and self.init is None and self.init_from is None:
            raise ValueError("site.interpolate below 1 averages with the starting model: set init_from")
        return self

    @field_validator("amp", mode="before")
    @classmethod
    def _yaml_off_is_false(cls, value: object) -> object:
        """YAML 1.1 reads a bare ``off`` as False; ``amp: off`` means what it says."""
        return "off" if value is False else value


class ClassifyData(DataSection):
    root: Path = Field(
        Path("runs/demo/data/classify"),
        description="class folders <root>/<split>/<class>/, or the CSV's folder",
    )
    format: Literal["folders", "csv"] = Field(
        "folders", description="folders: <split>/<class>/<image>; csv: path,label rows"
    )
    csv: dict[str, Path] = Field(
        default_factory=dict,
        description="format=csv: split name -> CSV file (paths relative to the CSV); "
        "only 'train' needed with split=fraction",
    )
    split: Literal["folders", "fraction"] = Field(
        "folders", description="folders: train/val/test given; fraction: carve val/test out of train, seeded"
    )
    val_fraction: float = Field(0.15, ge=0, lt=1)
    test_fraction: float = Field(0.15, ge=0, lt=1)
    image_size: tuple[int, int] = Field((160, 160), description="model input (height, width)")
    resize: Literal["stretch", "letterbox", "center_crop"] = Field(
        "stretch", description="how a frame becomes the input"
    )
    balance: Literal["none", "sampler", "loss"] = "none"

    @model_validator(mode="after")
    def _fractions_leave_training_data(self) -> ClassifyData:
        if self.split == "fraction" and self.val_fraction + self.test_fraction >= 0.9:
            raise ValueError("val_fraction + test_fraction must leave at least 10% for training")
        return self


class ClassifyConfig(RunConfig):
    task: Literal["classify"] = "classify"
    data: ClassifyData = ClassifyData()


class DenseRunConfig(RunConfig):
    """What detection and segmentation runs share: every layer trains from the start, NCHW tensors."""

    channels_last: bool = False  # its gain was measured on classification backbones only
    optim: DenseOptimConfig = DenseOptimConfig()
