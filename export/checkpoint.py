"""Load a checkpoint written by ``train`` back into a PyTorch model (weights only, never pickles)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edge_runtime.bundle import InputSpec
from edge_runtime.errors import AditError
from train.engine import CHECKPOINT_FORMAT
from train.models import build_model


class CheckpointError(AditError):
    """The checkpoint is missing or was not written by adit's trainer."""


@dataclass(frozen=True)
class LoadedCheckpoint:
    model: nn.Module
    task: str
    model_name: str
    classes: list[str]
    input: InputSpec
    meta: dict[str, Any]


def load_checkpoint(path: str | Path) -> LoadedCheckpoint:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found (train first: make train)")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError... for bad files
        raise CheckpointError(f"{path}: not a loadable weights-only checkpoint ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not an adit checkpoint (expected format {CHECKPOINT_FORMAT})")
    built = build_model(data["model"], len(data["classes"]), weights="none")
    built.module.load_state_dict(data["state_dict"])
    built.module.eval()
    meta = {k: v for k, v in data.items() if k != "state_dict"}
    return LoadedCheckpoint(
        model=built.module,
        task=data["task"],
        model_name=data["model"],
        classes=list(data["classes"]),
        input=InputSpec.model_validate(data["input"]),
        meta=meta,
    )
