"""Configuration of a signal (vibration) training run with cross-load transfer."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignalDataConfig(_Strict):
    source: Literal["cwru", "synth"] = "synth"
    root: Path = Path("../shared/data/cwru_bearing_12k_de")
    source_load: int = 0
    target_load: int = 1
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)


class SignalFeatureConfig(_Strict):
    window: int = Field(2048, gt=0)
    hop: int = Field(512, gt=0, description="training stride between windows inside a segment")
    representation: Literal["spectrogram", "waveform"] = "spectrogram"
    n_fft: int = 128
    fft_hop: int = 32
    image_size: tuple[int, int] = (64, 64)


class SignalModelConfig(_Strict):
    name: str = "efficientnet_lite0"
    weights: str = "DEFAULT"


class SignalOptimConfig(_Strict):
    epochs: int = Field(6, ge=1)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(1e-3, gt=0)
    finetune_steps: int = Field(30, ge=0, description="optimizer steps of few-shot fine-tuning")
    finetune_lr: float = Field(3e-4, gt=0)
    threads: int = Field(2, ge=1)


class SignalTrainConfig(_Strict):
    data: SignalDataConfig = SignalDataConfig()
    features: SignalFeatureConfig = SignalFeatureConfig()
    model: SignalModelConfig = SignalModelConfig()
    optim: SignalOptimConfig = SignalOptimConfig()
    shots: list[int] = Field(default_factory=lambda: [0, 5, 20], description="labelled target windows per class")
    out: Path = Path("runs/signal")
    seed: int = 0
