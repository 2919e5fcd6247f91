"""The data a bundle was measured on: its task's held-out split, read as training read it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edge_runtime.bundle import Bundle
from edge_runtime.errors import BundleError
from train.task import Task, TaskData, get_task


def bundle_data(bundle: Bundle, data_root: Path | None = None) -> tuple[Task, TaskData]:
    """The bundle's task and its data splits (``data_root`` replaces the training run's location)."""
    task = get_task(bundle.manifest.task)
    training = bundle.manifest.provenance.get("training_config")
    if not isinstance(training, dict):  # bundles carry it since the first manifest schema
        raise BundleError(f"{bundle.root}: no training_config in the provenance to find the data by")
    config = task.config_type.model_validate(training)
    return task, task.read_data(config, data_root)


def held_out(bundle: Bundle, data_root: Path | None = None) -> tuple[Task, Sequence[Any]]:
    """The bundle's task and its held-out test samples."""
    task, data = bundle_data(bundle, data_root)
    return task, data.test
