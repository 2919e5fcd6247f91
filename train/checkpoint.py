"""The checkpoint contract: one typed header, the weights, and (in ``last.pt``) the state to resume.

A checkpoint is a plain dict of tensors and primitives, written atomically and read only with
``torch.load(weights_only=True)`` (never a pickle): ``{"meta": CheckpointMeta as JSON,
"state_dict": ..., "resume": ...}``. ``meta`` says everything export and the benchmarks need to
rebuild and measure the model without the training run: task, model builder and arguments, the
model interface (classes, input, post-processing) the manifest will copy, metrics, data
fingerprint and the training configuration.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from edge_runtime.bundle import ModelInterface
from edge_runtime.errors import AditError

CHECKPOINT_VERSION = 2  # 1 was the untyped dict (format "adit-checkpoint-v1")
CHECKPOINT_FORMAT: Literal["adit-checkpoint"] = "adit-checkpoint"


class CheckpointError(AditError):
    """The checkpoint is missing, unreadable, or not one this adit understands; the message says which."""


class ModelRef(BaseModel):
    """How to rebuild the network: a registered builder's name and the arguments it was called with."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict, description="e.g. image_size for a detector")


class Interpolation(BaseModel):
    """Weights averaged with the model the run started from (``site.interpolate``, WiSE-FT)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: str = Field(description="the checkpoint the run started from (a retraining: the deployed one)")
    weight: float = Field(gt=0, lt=1, description="the retrained weights' share; the start's is 1 - weight")


class CheckpointMeta(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    format: Literal["adit-checkpoint"] = CHECKPOINT_FORMAT
    version: int = CHECKPOINT_VERSION
    model: ModelRef
    interface: ModelInterface
    epoch: int = Field(ge=0, description="epochs trained when it was written (0: the initial weights)")
    metrics: dict[str, float] = Field(default_factory=dict, description="validation figures at that epoch")
    data_fingerprint: str
    config: dict[str, Any] = Field(
        description="the run's configuration (the task's config type reads it back)"
    )
    amp: str = Field("off", description="the autocast precision training ran in")
    interpolated: Interpolation | None = Field(
        None, description="set when the weights are an average with the starting model's, not as trained"
    )

    @field_validator("version")
    @classmethod
    def _known_version(cls, version: int) -> int:
        if version > CHECKPOINT_VERSION:
            reads = CHECKPOINT_VERSION
            raise ValueError(f"checkpoint version {version} is newer than this adit ({reads}); upgrade adit")
        return version

    @property
    def task(self) -> str:
        return self.interface.task

    @property
    def classes(self) -> list[str]:
        return self.interface.classes


@dataclass(frozen=True)
class Checkpoint:
    meta: CheckpointMeta
    state_dict: dict[str, torch.Tensor]
    resume: dict[str, Any] | None  # optimiser, schedule, RNG and progress: only in last.pt


def save_checkpoint(
    path: Path,
    meta: CheckpointMeta,
    state_dict: dict[str, torch.Tensor],
    resume: dict[str, Any] | None = None,
) -> None:
    """Write atomically (temp file, then rename), so an interruption never leaves half a checkpoint."""
    partial = path.with_suffix(".pt.partial")
    payload: dict[str, Any] = {"meta": meta.model_dump(mode="json"), "state_dict": state_dict}
    if resume is not None:
        payload["resume"] = resume
    torch.save(payload, partial)
    os.replace(partial, path)


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Load and validate; every reader (export, benchmarks, resume, fine-tuning) comes through here."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found (train first: make train)")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError... for bad files
        raise CheckpointError(f"{path}: not a loadable weights-only checkpoint ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("meta"), dict):
        legacy = data.get("format") if isinstance(data, dict) else None
        hint = f" (format {legacy!r}, written before the checkpoint schema: retrain it)" if legacy else ""
        raise CheckpointError(f"{path}: not an adit checkpoint{hint}")
    try:
        meta = CheckpointMeta.model_validate(data["meta"])
    except ValidationError as exc:
        raise CheckpointError(f"{path}: invalid checkpoint header:\n{exc}") from exc
    return Checkpoint(meta=meta, state_dict=data["state_dict"], resume=data.get("resume"))
