"""What an evaluation reports, whatever the task, and how a (possibly distributed) run evaluates.

Every figure comes through ``edge_runtime.model.Predictor``: during training it wraps the PyTorch
model's forward in FP32, at export a runtime's session; the task measures each sample with it and
scores the lot, so training, the export gate and the benchmarks compute a metric the same way.
A class with no sample in a split is "not measured" (``None``), never a figure of 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.distributed as dist
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from edge_runtime.bundle import ModelInterface
from edge_runtime.model import Infer, Predictor
from train.runtime import ProcessGroup

if TYPE_CHECKING:
    from train.task import Task


class EvalReport(BaseModel):
    """One model on one split: the task's metric, other overall figures, and figures per class."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    metric: str = Field(description="name of ``value``: top1, map50, miou, ...")
    value: float
    samples: int
    figures: dict[str, float] = Field(default_factory=dict, description="other overall figures, e.g. map")
    per_class: dict[str, dict[str, float] | None] = Field(
        default_factory=dict, description="None: the class has no sample in this split (not measured)"
    )
    confusion: list[list[int]] | None = Field(
        None, description="rows truth, columns prediction (classifiers)"
    )

    def class_value(self, name: str, figure: str) -> float | None:
        figures = self.per_class.get(name)
        return None if figures is None else figures.get(figure)

    def manifest_metrics(self, *class_figures: str) -> dict[str, float]:
        """The manifest's flat metrics: the metric, other figures, ``<figure>/<class>`` per measured class."""
        per_class = {
            f"{figure}/{n}": f[figure]
            for figure in class_figures
            for n, f in self.per_class.items()
            if f and figure in f
        }
        return {self.metric: self.value, **self.figures, **per_class}

    def not_measured(self) -> list[str]:
        return [name for name, figures in self.per_class.items() if figures is None]


def torch_infer(module: nn.Module, device: torch.device, channels_last: bool = False) -> Infer:
    """A PyTorch module as a Predictor's infer function: eval mode, FP32 (never autocast), numpy out."""

    def infer(batch: np.ndarray) -> list[np.ndarray]:
        module.eval()
        tensor = torch.from_numpy(batch).to(device)
        if channels_last and tensor.ndim == 4:
            tensor = tensor.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            outputs = module(tensor)
        outputs = outputs if isinstance(outputs, tuple | list) else (outputs,)
        return [
            output.float().cpu().numpy() if output.is_floating_point() else output.cpu().numpy()
            for output in outputs
        ]

    return infer


def evaluate(
    task: Task, predictor: Predictor, samples: Sequence[Any], group: ProcessGroup | None = None
) -> EvalReport:
    """Measure ``samples`` (each rank its shard under DDP, gathered), then score them all on every rank."""
    group = group or ProcessGroup()
    shard = list(samples[group.rank :: group.world])
    evidence = task.measure(predictor, shard)
    if group.distributed:
        parts: list[Any] = [None] * group.world
        dist.all_gather_object(parts, evidence)
        evidence = [None] * len(samples)
        for rank, part in enumerate(parts):
            evidence[rank :: group.world] = part
    return task.score(evidence, samples, predictor.interface.classes)


def module_predictor(
    interface: ModelInterface, module: nn.Module, device: torch.device, channels_last: bool
) -> Predictor:
    return Predictor(interface, torch_infer(module, device, channels_last), name="the model in training")
