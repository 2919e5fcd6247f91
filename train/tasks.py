"""Which trainer a configuration is for: its ``task`` key (``detect``, ``segment``; default classify).

Detection and segmentation have their own typed configurations and engines; this table is the one
place that joins them to ``python -m train fit``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from edge_runtime.errors import ConfigError


@dataclass(frozen=True)
class DenseTask:
    config: str  # "module:Class" of the typed configuration
    fit: str  # "module:function" that trains it
    metric: str  # the validation metric the run is judged by

    def config_class(self) -> type[BaseModel]:
        return _resolve(self.config)

    def fit_function(self) -> Callable[[Any], dict[str, Any]]:
        return _resolve(self.fit)


DENSE_TASKS = {
    "detect": DenseTask("train.detection.config:DetectTrainConfig", "train.detection.engine:fit_detector", "map50"),
    "segment": DenseTask("train.segmentation.config:SegmentTrainConfig", "train.segmentation.engine:fit_segmenter", "miou"),
}


def _resolve(target: str) -> Any:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def task_of(config_path: str | None, overrides: list[str]) -> str:
    """The ``task`` from a ``task=...`` override, else from the YAML file, else ``classify``."""
    for item in overrides:
        if item.startswith("task="):
            return item.partition("=")[2]
    if config_path and Path(config_path).is_file():
        raw = yaml.safe_load(Path(config_path).read_text()) or {}
        if isinstance(raw, dict) and "task" in raw:
            task = str(raw["task"])
            if task not in DENSE_TASKS and task != "classify":
                raise ConfigError(f"{config_path}: task {task!r} is not one of classify, {', '.join(DENSE_TASKS)}")
            return task
    return "classify"
