"""Image classification: class folders or a CSV in, one class per frame out (``scores``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edge_runtime.bundle import ModelInterface
from edge_runtime.postprocess_spec import ScoresPost
from train.config import ClassifyConfig
from train.data import Sample, list_class_folders, load_classified
from train.models import BuiltModel, ModelRequest
from train.readers import read_splits
from train.task import LossFn, TaskData, register_task
from train.tasks.base import ClassifierTask, ImageTask


@register_task
class Classify(ClassifierTask, ImageTask):
    name = "classify"
    config_type = ClassifyConfig
    load_item = staticmethod(load_classified)

    def read_data(self, config: ClassifyConfig, root: Path | None = None) -> TaskData:
        return read_splits(
            config.data if root is None else config.data.model_copy(update={"root": root}), config.seed
        )

    def label(self, sample: Sample) -> int:
        return sample.label

    def read_labelled(self, folder: Path, classes: list[str]) -> list[Sample]:
        return list_class_folders(folder, classes)[1]  # the import writes <folder>/<class>/<image>

    def sample_weights(self, config: ClassifyConfig, data: TaskData) -> list[float] | None:
        if config.data.balance != "sampler":
            return None
        counts = np.bincount([s.label for s in data.train], minlength=len(data.classes))
        return [1.0 / counts[s.label] for s in data.train]

    def model_request(self, config: ClassifyConfig, data: TaskData) -> ModelRequest:
        return ModelRequest(len(data.classes), config.model.weights, image_size=config.data.image_size)

    def interface(self, config: ClassifyConfig, data: TaskData, built: BuiltModel) -> ModelInterface:
        spec = self.input_spec(config, built)
        return ModelInterface(task=self.name, classes=data.classes, input=spec, postprocess=ScoresPost())

    def loss_fn(self, config: ClassifyConfig, data: TaskData, device: torch.device) -> LossFn:
        weights = None
        if config.data.balance == "loss":
            counts = np.bincount([s.label for s in data.train], minlength=len(data.classes)).astype(
                np.float32
            )
            weights = torch.tensor(counts.sum() / (len(data.classes) * np.maximum(counts, 1)), device=device)
        return cross_entropy(config, weights)


def cross_entropy(config: Any, weights: torch.Tensor | None = None) -> LossFn:
    """Cross-entropy of the logits; the ``seed`` recipe is the plain one, without label smoothing."""
    smoothing = config.optim.label_smoothing if config.optim.recipe == "default" else 0.0
    criterion = nn.CrossEntropyLoss(weight=weights, label_smoothing=smoothing)
    return lambda model, inputs, targets: criterion(model(inputs), targets)
