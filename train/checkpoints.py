"""Checkpoints: plain dicts of tensors and primitives, loadable with ``torch.load(weights_only=True)``.

``best.pt`` and ``last.pt`` carry what export needs (format, state_dict, config, task, model,
classes, input, dataset_fingerprint); ``last.pt`` also carries ``resume``: optimiser, schedule,
loss scaler, epoch, RNG states and the best result so far, so an interrupted run continues as if
it had never stopped.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from train.config import TrainConfig

CHECKPOINT_FORMAT = "adit-checkpoint-v1"


def save_checkpoint(path: Path, module: nn.Module, config: TrainConfig, meta: dict[str, Any]) -> None:
    """Write atomically (temp file, then rename), so an interruption never leaves half a checkpoint."""
    partial = path.with_suffix(".pt.partial")
    torch.save({"format": CHECKPOINT_FORMAT, "state_dict": module.state_dict(), "config": config.model_dump(mode="json"), **meta}, partial)
    os.replace(partial, path)


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
