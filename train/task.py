"""The task interface: everything that differs between classify, detect, segment and signal.

The training engine, the checkpoint, the bundle builder with its formats table and accuracy gate,
the benchmarks and the device's decoders are shared. A task is one module that subclasses ``Task``
and registers it; nothing else changes::

    @register_task
    class Count(Task):
        name = "count"
        ...

A task reads its data into typed samples, says how to build and train its model (through the
model registry of its ``family``), how a batch's loss is computed, how a sample is measured
through a ``Predictor`` and how the measurements score (its metric and per-class figures), what
the exported graph returns and what export's parity check compares. The post-processing it
declares (``interface``) is a typed ``edge_runtime`` model, written into the checkpoint and the
manifest as is.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset, default_collate

from edge_runtime.bundle import ModelInterface
from edge_runtime.errors import ConfigError
from edge_runtime.model import Predictor
from edge_runtime.registry import Registry
from train.checkpoint import Checkpoint
from train.config import RunConfig
from train.evaluation import EvalReport
from train.models import BuiltModel, ModelRequest, build_model

Batch = tuple[Any, Any, int]  # (inputs, targets, items skipped as unreadable)


LossFn = Callable[[nn.Module, Any, Any], torch.Tensor]  # (model in train mode, inputs, targets) -> loss


@dataclass(frozen=True)
class TaskData:
    """A data set as three splits of the task's samples, with one class list."""

    classes: list[str]
    train: Sequence[Any]
    val: Sequence[Any]
    test: Sequence[Any]
    fingerprint: str  # tells two data sets apart in provenance
    source: str  # where it came from, for the bundle's provenance

    def split(self, name: str) -> Sequence[Any]:
        return {"train": self.train, "val": self.val, "test": self.test}[name]


@dataclass(frozen=True)
class GateDefaults:
    """What export's gate holds this task's artifacts to when the command line does not say."""

    max_drop_pp: float = 0.5  # the task's metric, against true FP32
    max_class_drop_pp: float = 0.0  # each figure of each safety class
    max_per_class_drop_pp: float | None = None  # ``class_figure`` of every class; None: not held
    safety_classes: tuple[str, ...] = ()  # held where the model has them
    safety_figures: tuple[str, ...] = ()  # per-class figures safety classes keep besides ``class_figure``
    # The absolute floor: below max(floor_absolute, baseline + floor_margin) on the validation split,
    # the FP32 model is not fit to deploy and export ships nothing (unless explicitly overridden).
    floor_absolute: float = 0.0
    floor_margin: float = 0.0


class Task(ABC):
    name: ClassVar[str]
    config_type: ClassVar[type[RunConfig]]
    family: ClassVar[str]  # the model family its builders are registered in (train.models)
    metric: ClassVar[str]  # what best checkpoints and the export gate are judged by: top1, map50, miou
    class_figure: ClassVar[str]  # the per-class figure the gate holds safety classes to: recall, ap50, iou
    gate: ClassVar[GateDefaults] = GateDefaults()  # export's gate and floor, unless the command line says
    # What the exported graph returns, and how it may be batched.
    output_names: ClassVar[tuple[str, ...]] = ("logits",)
    dynamic_batch: ClassVar[bool] = True
    drop_last: ClassVar[bool] = False  # True where BatchNorm cannot train on a last batch of one
    # Export parity against PyTorch: the share of predictions ONNX must agree on, and the largest
    # output difference allowed (None: not compared, e.g. box coordinates of unmatched boxes).
    min_agreement: ClassVar[float] = 1.0
    parity_atol: ClassVar[float | None] = 1e-3
    # INT8: op types ONNX Runtime quantizes (None: all) and op types NNCF keeps in floating point.
    ort_quantize_ops: ClassVar[tuple[str, ...] | None] = None
    int8_ignored_types: ClassVar[tuple[str, ...]] = ()

    # --- data ---------------------------------------------------------------------------------------

    @abstractmethod
    def read_data(self, config: Any, root: Path | None = None) -> TaskData:
        """The three splits; ``root`` replaces the configured data location (export ``--data``)."""

    @abstractmethod
    def frame(self, sample: Any) -> np.ndarray:
        """What the device is given for this sample: a BGR frame, or a window of signal samples."""

    def stratum(self, sample: Any) -> int:
        """Calibration draws evenly across strata (a classifier's labels); one stratum by default."""
        return 0

    def read_labelled(self, folder: Path, classes: list[str]) -> list[Any]:
        """A labelling tool's corrected labels as training samples (``edge_runtime.siteloop import``)."""
        raise ConfigError(f"site.data: retraining on site labels is not available for {self.name} yet")

    @abstractmethod
    def train_set(self, config: Any, samples: Sequence[Any], interface: ModelInterface) -> Dataset:
        """Training items; keys may be ``(epoch, index)`` (``EpochSampler``) to seed augmentation."""

    def collate(self, items: list[Any]) -> Batch:
        """Stack (input, target) items, leaving out ``None`` (unreadable) items and counting them."""
        kept = [item for item in items if item is not None]
        if not kept:
            return torch.empty(0), None, len(items)
        return (
            torch.stack([x for x, _ in kept]),
            default_collate([t for _, t in kept]),
            len(items) - len(kept),
        )

    def sample_weights(self, config: Any, data: TaskData) -> list[float] | None:
        """Per-sample draw weights for the training sampler (class balancing); None: a plain shuffle."""
        return None

    # --- model --------------------------------------------------------------------------------------

    def model_request(self, config: Any, data: TaskData) -> ModelRequest:
        return ModelRequest(len(data.classes), config.model.weights)

    def build(self, config: Any, data: TaskData) -> tuple[BuiltModel, ModelRequest]:
        request = self.model_request(config, data)
        return build_model(self.family, config.model.name, request), request

    @abstractmethod
    def interface(self, config: Any, data: TaskData, built: BuiltModel) -> ModelInterface:
        """Classes, preprocessing and the typed post-processing the checkpoint and manifest carry."""

    @abstractmethod
    def loss_fn(self, config: Any, data: TaskData, device: torch.device) -> LossFn:
        """The loss of one batch, for this run (class weights, label smoothing...)."""

    def export_module(self, model: nn.Module) -> nn.Module:
        """The network as exported: tensors in, the ``output_names`` tensors out."""
        return model

    def load(self, checkpoint: Checkpoint) -> nn.Module:
        """A checkpoint's trained network, rebuilt without pretrained weights, as exported, in eval mode."""
        request = ModelRequest.for_rebuild(len(checkpoint.meta.classes), checkpoint.meta.model.arguments)
        built = build_model(self.family, checkpoint.meta.model.name, request)
        built.module.load_state_dict(checkpoint.state_dict)
        return self.export_module(built.module).eval()

    def start_weights(  # noqa: B027  (a hook: most tasks start from the weights as loaded)
        self, config: Any, data: TaskData, built: BuiltModel, interface: ModelInterface
    ) -> None:
        """Adjust the starting weights (after ``init``'s are loaded) before the first step."""

    def run_config(self, config: Any) -> Any:
        """The configuration as this run trains it (a task's own recipe, e.g. a few-shot step's
        schedule); idempotent, so the saved configuration runs the same again. Unchanged by default."""
        return config

    def followups(self, config: Any) -> Sequence[RunConfig]:
        """Runs that continue from this one once it is done (e.g. few-shot fine-tunes); none by default."""
        return []

    # --- evaluation ---------------------------------------------------------------------------------

    @property
    def class_figures(self) -> tuple[str, ...]:
        """Every per-class figure the manifest reports and the gate may hold."""
        return tuple(dict.fromkeys((self.class_figure, *self.gate.safety_figures)))

    def baseline(self, samples: Sequence[Any]) -> float:
        """The metric a model that ignores its input would score on ``samples`` (0 by default)."""
        return 0.0

    def floor(self, samples: Sequence[Any]) -> float:
        """The least metric a model fit to deploy reaches on ``samples``."""
        return max(self.gate.floor_absolute, self.baseline(samples) + self.gate.floor_margin)

    @abstractmethod
    def measure(self, predictor: Predictor, samples: Sequence[Any]) -> list[Any]:
        """One small, picklable piece of evidence per sample (gathered across DDP ranks), in order."""

    @abstractmethod
    def score(self, evidence: list[Any], samples: Sequence[Any], classes: list[str]) -> EvalReport:
        """The metric and per-class figures of the measured samples."""

    @abstractmethod
    def agreement(self, expected: list[np.ndarray], actual: list[np.ndarray]) -> tuple[int, int, float]:
        """Export parity on one batch: (predictions that agree, predictions compared, largest |diff|)."""


_TASKS: Registry[Task] = Registry("task")
_BUILTIN = ("train.tasks.classify", "train.tasks.detect", "train.tasks.segment", "train.tasks.signal")


def register_task(cls: type[Task]) -> type[Task]:
    """Class decorator: the task becomes trainable, exportable and measurable as ``cls.name``."""
    _TASKS.register(cls.name)(cls())
    return cls


def get_task(name: str) -> Task:
    _load_builtin()
    return _TASKS.require(name)


def list_tasks() -> list[str]:
    _load_builtin()
    return _TASKS.names()


def _load_builtin() -> None:
    for module in _BUILTIN:
        importlib.import_module(module)
