"""Equipment faults from vibration: windows of a signal in, a class per window out (``scores``).

Each recording is split into contiguous train | val | test segments before windows are cut, so no
window straddles two splits. The manifest's ``signal`` section carries the preprocessing
(``edge_runtime.signal``), with normalisation measured on the training windows. A ``transfer``
section adds few-shot fine-tunes on another operating load as follow-up runs of the same engine.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from edge_runtime.bundle import InputSpec, ModelInterface
from edge_runtime.postprocess_spec import ScoresPost
from edge_runtime.signal import SignalError, SignalSpec, features, to_tensor
from train.data import fingerprint
from train.models import BuiltModel
from train.signal.config import SignalTrainConfig
from train.signal.readers import Recording, read_cwru
from train.signal.split import Windows, concat, split_windows, take_per_class
from train.signal.synth import synthetic_recordings
from train.task import LossFn, TaskData, register_task
from train.tasks.base import ClassifierTask
from train.tasks.classify import cross_entropy


@dataclass(frozen=True)
class Window:
    x: np.ndarray  # (window,) float32 samples
    label: int
    source: str  # the recording it was cut from


@dataclass(frozen=True)
class SignalData(TaskData):
    sampling_rate: float = 0.0


class _Features(Dataset):
    """Training windows as network inputs, computed once (spectrograms are the costly part)."""

    def __init__(self, windows: Sequence[Window], spec: SignalSpec) -> None:
        batch = np.stack([w.x for w in windows]) if windows else np.empty((0, spec.window), np.float32)
        self.inputs = torch.from_numpy(to_tensor(features(batch, spec), spec))
        self.labels = torch.tensor([w.label for w in windows], dtype=torch.long)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        index = key[1] if isinstance(key, tuple) else key
        return self.inputs[index], self.labels[index]


@register_task
class Signal(ClassifierTask):
    name = "signal"
    config_type = SignalTrainConfig

    def read_data(self, config: SignalTrainConfig, root: Path | None = None) -> SignalData:
        data = config.data
        recordings = _recordings(config, root)
        classes = sorted({r.label for r in recordings})
        rates = {r.sampling_rate for r in recordings}
        if len(rates) != 1:
            raise SignalError(
                f"recordings have different sampling rates {sorted(rates)}; resample them first"
            )
        splits = _windows(config, recordings, classes, data.load)
        train = splits["train"]
        if data.shots is not None:
            train = take_per_class(train, data.shots, config.seed)
            if data.replay_load is not None:
                replay = _windows(config, recordings, classes, data.replay_load)["train"]
                train = concat(train, take_per_class(replay, data.shots, config.seed))
        if not len(splits["test"]):
            raise SignalError(f"no test windows for load {data.load}; is there a recording of that load?")
        names = sorted({f"{r.name}:{len(r.samples)}" for r in recordings})
        every = [_samples(train), _samples(splits["val"]), _samples(splits["test"])]
        source = f"{data.source} load {data.load}" + (f" ({data.root})" if data.source == "cwru" else "")
        train_windows, val_windows, test_windows = every
        return SignalData(
            classes,
            train_windows,
            val_windows,
            test_windows,
            fingerprint(names),
            source,
            sampling_rate=rates.pop(),
        )

    def frame(self, sample: Window) -> np.ndarray:
        return sample.x

    def label(self, sample: Window) -> int:
        return sample.label

    def train_set(
        self, config: SignalTrainConfig, samples: Sequence[Window], interface: ModelInterface
    ) -> Dataset:
        if interface.signal is None:
            raise SignalError("a signal model's interface has no signal section")
        return _Features(samples, interface.signal)

    def interface(self, config: SignalTrainConfig, data: TaskData, built: BuiltModel) -> ModelInterface:
        if not isinstance(data, SignalData):
            raise SignalError("signal data comes from Signal.read_data (it knows the sampling rate)")
        f = config.features
        rate = data.sampling_rate
        spec = SignalSpec(
            sampling_rate=rate, window=f.window, hop=f.hop, representation=f.representation, n_fft=f.n_fft,
            fft_hop=f.fft_hop, image_size=f.image_size, channels=1 if f.representation == "waveform" else 3,
        )  # fmt: skip
        if f.representation == "spectrogram" and data.train:  # standardised by the training windows
            sample = np.stack([w.x for w in data.train[:: max(1, len(data.train) // 256)]])
            feats = features(sample, spec)
            spec = spec.model_copy(update={"mean": float(feats.mean()), "std": float(feats.std())})
        height, width = (1, spec.window) if spec.representation == "waveform" else spec.image_size
        return ModelInterface(
            task=self.name, classes=data.classes, input=InputSpec(size=(height, width), scale=1.0),
            postprocess=ScoresPost(), signal=spec,
        )  # fmt: skip

    def loss_fn(self, config: SignalTrainConfig, data: TaskData, device: torch.device) -> LossFn:
        return cross_entropy(config)

    def followups(self, config: SignalTrainConfig) -> list[SignalTrainConfig]:  # a Sequence[RunConfig]
        """Few-shot fine-tunes from this run's best checkpoint, one per ``transfer.shots`` (k=0: none)."""
        transfer = config.transfer
        if transfer is None:
            return []
        runs = []
        for shots in transfer.shots:
            data = config.data.model_copy(
                update={"load": transfer.load, "shots": shots, "replay_load": config.data.load}
            )
            run = config.model_copy(
                update={
                    "out": config.out / f"target_k{shots}",
                    "init": config.out / "best.pt",
                    "data": data,
                    "transfer": None,
                }
            )
            size = len(self.read_data(run).train) if shots else 0
            steps_per_epoch = max(1, math.ceil(size / config.optim.batch_size))
            epochs = math.ceil(transfer.steps / steps_per_epoch) if shots else 0
            optim = config.optim.model_copy(
                update={"epochs": epochs, "lr": transfer.lr, "patience": max(epochs, 1)}
            )
            runs.append(run.model_copy(update={"optim": optim}))
        return runs


def _recordings(config: SignalTrainConfig, root: Path | None) -> list[Recording]:
    if config.data.source == "cwru":
        return read_cwru(root or config.data.root)
    loads = {config.data.load}
    if config.data.replay_load is not None:
        loads.add(config.data.replay_load)
    if config.transfer is not None:
        loads.add(config.transfer.load)
    return synthetic_recordings(loads=tuple(sorted(loads)), seed=config.seed)


def _windows(
    config: SignalTrainConfig, recordings: list[Recording], classes: list[str], load: int
) -> dict[str, Windows]:
    f = config.features
    return split_windows(
        [r for r in recordings if r.load == load], classes, f.window, f.hop, config.data.fractions
    )


def _samples(windows: Windows) -> list[Window]:
    return [
        Window(x, int(y), source) for x, y, source in zip(windows.x, windows.y, windows.source, strict=True)
    ]
