"""Configuration of a signal (vibration) training run, and of its cross-load transfer."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from edge_runtime.signal import Representation
from train.config import DataSection, ModelConfig, OptimConfig, RunConfig, Section


class SignalDataConfig(DataSection):
    workers: int = Field(0, ge=0, le=64, description="windows are held in memory: no worker processes needed")
    source: Literal["cwru", "synth"] = "synth"
    root: Path = Path("../shared/data/cwru_bearing_12k_de")
    loads: list[int] = Field(
        default_factory=lambda: [0],
        min_length=1,
        description="the operating loads (HP) whose segments train, validate and test the run, together",
    )
    shots: int | None = Field(
        None, ge=0, description="few-shot: train on k windows per class of `loads` (None: all)"
    )
    replay_loads: list[int] = Field(
        default_factory=list,
        description="few-shot: add k windows per class of these loads, so their classes are not forgotten",
    )
    feedback: Path | None = Field(
        None,
        description="few-shot from the site: the .npz of `python -m edge_runtime.siteloop signal-export` "
        "(windows the operators labelled) replaces the training windows; val/test stay those of `loads`",
    )
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)

    @model_validator(mode="before")
    @classmethod
    def _one_load_is_a_list_of_one(cls, value: object) -> object:
        """``load: 0`` / ``replay_load: 0`` (configs before several loads) mean ``loads: [0]`` / ``[0]``."""
        if not isinstance(value, dict):
            return value
        value = dict(value)
        for old, new in (("load", "loads"), ("replay_load", "replay_loads")):
            if old in value:
                if new in value:
                    raise ValueError(f"data.{old} and data.{new} both set; keep data.{new} (a list)")
                single = value.pop(old)
                value[new] = [] if single is None else [single]
        return value

    @field_validator("loads", "replay_loads")
    @classmethod
    def _loads_are_distinct(cls, loads: list[int]) -> list[int]:
        if any(load < 0 for load in loads) or len(set(loads)) != len(loads):
            raise ValueError(f"loads must be distinct and >= 0, got {loads}")
        return sorted(loads)


class SignalFeatureConfig(Section):
    window: int = Field(2048, gt=0)
    hop: int = Field(512, gt=0, description="training stride between windows inside a segment")
    representation: Representation = Field(
        "spectrogram",
        description="order_spectrum/envelope_spectrum: shaft-speed normalised (each recording's rpm)",
    )
    n_fft: int = 128
    fft_hop: int = 32
    image_size: tuple[int, int] = (64, 64)
    orders: tuple[float, float] = Field((0.5, 180.0), description="order representations: orders from, to")
    bins: int = Field(1024, gt=1, description="spectrum representations: the model's input length")


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


class FewShotConfig(Section):
    """The few-shot step (``train.signal.fewshot``): a fixed schedule, its last weights kept."""

    steps: int = Field(100, ge=1, description="optimizer steps of the fine-tune")
    lr: float = Field(1e-3, gt=0, description="peak learning rate (warm-up, then cosine to 0)")
    adabn: bool = Field(
        True,
        description="BatchNorm statistics re-estimated on the new load's training windows (their labels "
        "unused), then kept through the step (optim.freeze_bn)",
    )


class TransferConfig(FewShotConfig):
    """After the run: fine-tune copies with k labelled windows per class of another load (few-shot)."""

    load: int = Field(1, ge=0, description="the new operating load (HP)")
    shots: list[int] = Field(
        default_factory=lambda: [0, 5, 20], description="labelled windows per class; 0: no tuning"
    )


class SignalTrainConfig(RunConfig):
    task: Literal["signal"] = "signal"
    out: Path = Path("runs/signal")
    data: SignalDataConfig = SignalDataConfig()
    features: SignalFeatureConfig = SignalFeatureConfig()
    model: ModelConfig = ModelConfig()
    optim: SignalOptimConfig = SignalOptimConfig()
    transfer: TransferConfig | None = Field(None, description="few-shot fine-tunes to run after this one")
    few_shot: FewShotConfig | None = Field(
        None,
        description="this run is a few-shot step (data.shots; always with data.feedback): its steps and "
        "learning rate replace optim's epochs and lr, and the last weights are kept, not the best "
        "validation epoch's",
    )

    @model_validator(mode="before")
    @classmethod
    def _feedback_is_a_few_shot_step(cls, value: object) -> object:
        """A run on the site's feedback (``data.feedback``) trains with the few-shot recipe, as the transfer
        follow-ups do: ``few_shot`` defaults to one there."""
        if not isinstance(value, dict) or value.get("few_shot") is not None:
            return value
        data = value.get("data")
        feedback = data.get("feedback") if isinstance(data, dict) else getattr(data, "feedback", None)
        return {**value, "few_shot": {}} if feedback is not None else value

    @model_validator(mode="after")
    def _replay_needs_shots(self) -> SignalTrainConfig:
        if self.data.replay_loads and self.data.shots is None:
            raise ValueError("data.replay_loads needs data.shots (the windows per class to replay)")
        if self.few_shot is not None and self.data.shots is None:
            raise ValueError("few_shot needs data.shots (the few labelled windows per class it trains on)")
        return self
