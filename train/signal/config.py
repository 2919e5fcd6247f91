"""Configuration of a signal (vibration) training run, and of its cross-load transfer."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from train.config import DataSection, ModelConfig, OptimConfig, RunConfig, Section


class SignalDataConfig(DataSection):
    workers: int = Field(0, ge=0, le=64, description="windows are held in memory: no worker processes needed")
    source: Literal["cwru", "synth"] = "synth"
    root: Path = Path("../shared/data/cwru_bearing_12k_de")
    load: int = Field(
        0, ge=0, description="the operating load (HP) whose segments train, validate and test the run"
    )
    shots: int | None = Field(
        None, ge=0, description="few-shot: train on k windows per class of `load` (None: all)"
    )
    replay_load: int | None = Field(
        None,
        ge=0,
        description="few-shot: add k windows per class of this load, so its classes are not forgotten",
    )
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)


class SignalFeatureConfig(Section):
    window: int = Field(2048, gt=0)
    hop: int = Field(512, gt=0, description="training stride between windows inside a segment")
    representation: Literal["spectrogram", "waveform"] = "spectrogram"
    n_fft: int = 128
    fft_hop: int = 32
    image_size: tuple[int, int] = (64, 64)


class SignalOptimConfig(OptimConfig):
    """A small model, every layer from the first step, one-cycle-like: a long warm-up, then cosine."""

    epochs: int = Field(6, ge=0, le=1000, description="0: only evaluate and checkpoint the initial weights")
    batch_size: int = Field(64, ge=1, le=4096)
    backbone_lr_scale: float = Field(1.0, gt=0, le=1)
    warmup_epochs: int = Field(0, ge=0)
    freeze_fraction: float = Field(0.0, ge=0, le=1)
    warmup_fraction: float = Field(0.3, ge=0, lt=1)
    weight_decay: float = Field(1e-4, ge=0)
    label_smoothing: float = Field(0.05, ge=0, lt=1)


class TransferConfig(Section):
    """After the run: fine-tune copies with k labelled windows per class of another load (few-shot)."""

    load: int = Field(1, ge=0, description="the new operating load (HP)")
    shots: list[int] = Field(
        default_factory=lambda: [0, 5, 20], description="labelled windows per class; 0: no tuning"
    )
    steps: int = Field(30, ge=1, description="optimizer steps of each fine-tune")
    lr: float = Field(3e-4, gt=0)


class SignalTrainConfig(RunConfig):
    task: Literal["signal"] = "signal"
    out: Path = Path("runs/signal")
    data: SignalDataConfig = SignalDataConfig()
    features: SignalFeatureConfig = SignalFeatureConfig()
    model: ModelConfig = ModelConfig()
    optim: SignalOptimConfig = SignalOptimConfig()
    transfer: TransferConfig | None = Field(None, description="few-shot fine-tunes to run after this one")

    @model_validator(mode="after")
    def _replay_needs_shots(self) -> SignalTrainConfig:
        if self.data.replay_load is not None and self.data.shots is None:
            raise ValueError("data.replay_load needs data.shots (the windows per class to replay)")
        return self
