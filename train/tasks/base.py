"""Building blocks the built-in tasks share: frames read from image files, and class-scoring outputs."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any, ClassVar

import numpy as np
from torch.utils.data import Dataset

from edge_runtime.bundle import InputSpec, ModelInterface
from edge_runtime.model import Predictor
from edge_runtime.preprocess import read_image
from train.data import KeyedDataset, LoadItem, readable
from train.evaluation import EvalReport
from train.metrics import classification_report, scores_agreement
from train.models import BuiltModel
from train.photometric import light_policy
from train.task import GateDefaults, Task

EVAL_BATCH = 32  # frames per inference call when measuring; a metric does not depend on it


class ImageTask(Task):
    """Samples with a ``path``: the device is given the image file's frame, read as it reads them;
    training items come from ``load_item(input_spec, augment_config, sample, rng)``."""

    load_item: ClassVar[Callable[..., Any]]  # a staticmethod in the subclass

    def frame(self, sample: Any) -> np.ndarray:
        return read_image(sample.path)

    def input_spec(self, config: Any, built: BuiltModel) -> InputSpec:
        """``data.image_size`` and ``data.resize``, RGB, normalised as the backbone was pretrained."""
        data = config.data
        return InputSpec(
            size=data.image_size, resize=data.resize, colour="rgb", mean=built.mean, std=built.std
        )

    def train_set(self, config: Any, samples: Sequence[Any], interface: ModelInterface) -> Dataset:
        augment = light_policy(config.augment, [s.path for s in samples])
        return KeyedDataset(samples, self.item_loader(interface.input, augment, samples), seed=config.seed)

    def item_loader(self, spec: InputSpec, augment: Any, samples: Sequence[Any]) -> LoadItem:
        """(sample, rng or None) -> training item; ``samples`` lets an augmentation draw others (mosaic)."""
        return partial(self.load_item, spec, augment)


class ClassifierTask(Task):
    """A model that scores classes for each sample (``scores``): top-1 and per-class recall."""

    family = "classify"
    metric = "top1"
    class_figure = "recall"
    gate = GateDefaults(floor_margin=0.05)  # the floor: 5 pp above always answering the commonest class

    @abstractmethod
    def label(self, sample: Any) -> int:
        """The sample's class index."""

    def stratum(self, sample: Any) -> int:
        return self.label(sample)

    def baseline(self, samples: Sequence[Any]) -> float:
        """The majority-class rate: top-1 of always answering the most common class."""
        counts = np.bincount([self.label(s) for s in samples]) if len(samples) else np.zeros(1)
        return float(counts.max() / max(len(samples), 1))

    def measure(self, predictor: Predictor, samples: Sequence[Any]) -> list[Any]:
        return classify_frames(predictor, readable(self.frame, samples))

    def score(self, evidence: list[Any], samples: Sequence[Any], classes: list[str]) -> EvalReport:
        pairs = [(self.label(s), p) for s, p in zip(samples, evidence, strict=True) if p is not None]
        targets = np.array([t for t, _ in pairs], dtype=np.int64)
        return classification_report(targets, np.array([p for _, p in pairs], dtype=np.int64), classes)

    def agreement(self, expected: list[np.ndarray], actual: list[np.ndarray]) -> tuple[int, int, float]:
        return scores_agreement(expected, actual)


def classify_frames(predictor: Predictor, frames: Iterable[np.ndarray | None]) -> list[int | None]:
    """The predicted class index of each frame (None where the frame could not be read), in batches."""
    predicted: list[int | None] = []
    pending: list[tuple[int, np.ndarray]] = []

    def flush() -> None:
        for (index, _), result in zip(pending, predictor.classify([f for _, f in pending]), strict=True):
            predicted[index] = result.index
        pending.clear()

    for frame in frames:
        predicted.append(None)
        if frame is not None:
            pending.append((len(predicted) - 1, frame))
        if len(pending) == EVAL_BATCH:
            flush()
    if pending:
        flush()
    return predicted
