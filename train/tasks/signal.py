"""Equipment faults from vibration: windows of a signal in, a class per window out (``scores``).

Each recording is split into contiguous train | val | test segments before windows are cut, so no
window straddles two splits. The manifest's ``signal`` section carries the preprocessing
(``edge_runtime.signal``), with normalisation measured on the training windows. A ``transfer``
section adds few-shot fine-tunes on another operating load as follow-up runs of the same engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from edge_runtime.bundle import InputSpec, ModelInterface
from edge_runtime.postprocess_spec import ScoresPost
from edge_runtime.signal import NEEDS_RPM, SPECTRA, SignalError, SignalSpec, features, to_tensor, with_rpm
from train.data import fingerprint
from train.models import BuiltModel, ModelRequest
from train.signal.config import FewShotConfig, SignalTrainConfig
from train.signal.fewshot import adapt_batchnorm, few_shot_optim
from train.signal.readers import Recording, read_cwru
from train.signal.split import Windows, concat, feedback_windows, split_windows, take_per_class
from train.signal.synth import synthetic_recordings
from train.task import LossFn, TaskData, register_task
from train.tasks.base import ClassifierTask
from train.tasks.classify import cross_entropy

CHANNELS = {"spectrogram": 3, "spectrum_envelope": 2}  # of the network input; the rest have one


@dataclass(frozen=True)
class Window:
    x: np.ndarray  # (window,) float32 samples
    label: int
    source: str  # the recording it was cut from
    rpm: float | None = None  # the shaft speed, where the representation needs it


@dataclass(frozen=True)
class SignalData(TaskData):
    sampling_rate: float = 0.0
    new_windows: int = 0  # the leading training windows of ``data.loads`` (or feedback), before any replay


class _Features(Dataset):
    """Training windows as network inputs, computed once (spectrograms are the costly part)."""

    def __init__(self, windows: Sequence[Window], spec: SignalSpec) -> None:
        batch = np.stack([w.x for w in windows]) if windows else np.empty((0, spec.window), np.float32)
        rpm = np.array([w.rpm for w in windows], np.float64) if spec.representation in NEEDS_RPM else None
        self.inputs = torch.from_numpy(to_tensor(features(batch, spec, rpm), spec))
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
        if config.features.representation in NEEDS_RPM:
            _check_rpm(recordings, config.features.representation)
        splits = _windows(config, recordings, classes, data.loads)
        train = splits["train"]
        if data.feedback is not None:
            train = feedback_windows(data.feedback, classes, config.features.window)
        elif data.shots is not None:
            train = take_per_class(train, data.shots, config.seed)
        new_windows = len(train)
        if data.shots is not None and data.replay_loads:
            replay = _windows(config, recordings, classes, data.replay_loads)["train"]
            train = concat(train, take_per_class(replay, data.shots, config.seed))
        if not len(splits["test"]):
            raise SignalError(f"no test windows for loads {data.loads}; is there a recording of those loads?")
        names = sorted({f"{r.name}:{len(r.samples)}" for r in recordings})
        needs_rpm = config.features.representation in NEEDS_RPM
        every = [_samples(w, needs_rpm) for w in (train, splits["val"], splits["test"])]
        where = f" ({data.root})" if data.source == "cwru" else ""
        source = f"{data.source} load{'s' * (len(data.loads) > 1)} {', '.join(map(str, data.loads))}{where}"
        train_windows, val_windows, test_windows = every
        return SignalData(
            classes,
            train_windows,
            val_windows,
            test_windows,
            fingerprint(names),
            source,
            sampling_rate=rates.pop(),
            new_windows=new_windows,
        )

    def frame(self, sample: Window) -> np.ndarray:
        """The window, with its rpm as one more value when the representation needs it (``with_rpm``)."""
        return sample.x if sample.rpm is None else with_rpm(sample.x[None], sample.rpm)[0]

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
            fft_hop=f.fft_hop, image_size=f.image_size, orders=f.orders, bins=f.bins,
            channels=CHANNELS.get(f.representation, 1),
        )  # fmt: skip
        if f.representation != "waveform" and data.train:  # standardised by the training windows
            picked = data.train[:: max(1, len(data.train) // 256)]
            rpm = np.array([w.rpm for w in picked], np.float64) if f.representation in NEEDS_RPM else None
            feats = features(np.stack([w.x for w in picked]), spec, rpm)
            spec = spec.model_copy(update={"mean": float(feats.mean()), "std": float(feats.std())})
        height, width = spec.image_size
        if spec.representation == "waveform" or spec.representation in SPECTRA:
            height, width = 1, spec.window if spec.representation == "waveform" else spec.bins
        return ModelInterface(
            task=self.name, classes=data.classes, input=InputSpec(size=(height, width), scale=1.0),
            postprocess=ScoresPost(), signal=spec,
        )  # fmt: skip

    def model_request(self, config: SignalTrainConfig, data: TaskData) -> ModelRequest:
        """Spectrum models learn per bin: they are told (channels, length) as an image size."""
        f = config.features
        size = (CHANNELS.get(f.representation, 1), f.bins) if f.representation in SPECTRA else None
        return ModelRequest(len(data.classes), config.model.weights, image_size=size)

    def loss_fn(self, config: SignalTrainConfig, data: TaskData, device: torch.device) -> LossFn:
        return cross_entropy(config)

    def start_weights(
        self, config: SignalTrainConfig, data: TaskData, built: BuiltModel, interface: ModelInterface
    ) -> None:
        """A few-shot step with ``adabn``: BatchNorm statistics of the new load's windows, not the replay."""
        if config.few_shot is None or not config.few_shot.adabn or interface.signal is None:
            return
        if not isinstance(data, SignalData) or not data.new_windows:
            raise SignalError("few_shot.adabn needs the new load's training windows (data.shots > 0)")
        adapt_batchnorm(built.module, _Features(data.train[: data.new_windows], interface.signal).inputs)

    def run_config(self, config: SignalTrainConfig) -> SignalTrainConfig:
        """A few-shot step (``few_shot``) trains on ``train.signal.fewshot``'s schedule."""
        if config.few_shot is None:
            return config
        windows = len(self.read_data(config).train)
        return config.model_copy(update={"optim": few_shot_optim(config.optim, config.few_shot, windows)})

    def followups(self, config: SignalTrainConfig) -> list[SignalTrainConfig]:  # a Sequence[RunConfig]
        """Few-shot fine-tunes from this run's best checkpoint, one per ``transfer.shots`` (k=0: none)."""
        transfer = config.transfer
        if transfer is None:
            return []
        few_shot = FewShotConfig(steps=transfer.steps, lr=transfer.lr)
        return [
            config.model_copy(
                update={
                    "out": config.out / f"target_k{shots}",
                    "init": config.out / "best.pt",
                    "data": config.data.model_copy(
                        update={"loads": [transfer.load], "shots": shots, "replay_loads": config.data.loads}
                    ),
                    "transfer": None,
                    "few_shot": few_shot if shots else None,
                    "optim": config.optim if shots else config.optim.model_copy(update={"epochs": 0}),
                }
            )
            for shots in transfer.shots
        ]


def _recordings(config: SignalTrainConfig, root: Path | None) -> list[Recording]:
    if config.data.source == "cwru":
        return read_cwru(root or config.data.root)
    loads = {*config.data.loads, *config.data.replay_loads}
    if config.transfer is not None:
        loads.add(config.transfer.load)
    return synthetic_recordings(loads=tuple(sorted(loads)), seed=config.seed)


def _windows(
    config: SignalTrainConfig, recordings: list[Recording], classes: list[str], loads: list[int]
) -> dict[str, Windows]:
    """Each recording of ``loads`` split on its own, so a recording's windows stay in one split segment."""
    f = config.features
    return split_windows(
        [r for r in recordings if r.load in loads], classes, f.window, f.hop, config.data.fractions
    )


def _check_rpm(recordings: list[Recording], representation: str) -> None:
    missing = [r.name for r in recordings if r.rpm is None or not r.rpm > 0]
    if missing:
        raise SignalError(
            f"recordings {', '.join(missing[:5])} have no rpm; the {representation} representation needs the "
            "shaft speed of each recording (an rpm column in manifest.csv)"
        )


def _samples(windows: Windows, with_speed: bool) -> list[Window]:
    rows = zip(windows.x, windows.y, windows.source, windows.rpm, strict=True)
    return [Window(x, int(y), source, float(rpm) if with_speed else None) for x, y, source, rpm in rows]
