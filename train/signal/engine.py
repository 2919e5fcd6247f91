"""Train on the source load, then fine-tune with k labelled target-load windows per class.

The real-world case: a model trained on one operating condition meets another (load, speed).
Figures: per-class accuracy on the held-out test segments of the source load (within-load) and
of the target load (cross-load) before and after few-shot fine-tuning.
"""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn

import train.signal.models  # noqa: F401  (registers signal_cnn1d)
from edge_runtime.signal import SignalError, SignalSpec, features, to_tensor
from train.models import build_model
from train.signal.config import SignalTrainConfig
from train.signal.readers import Recording, read_cwru
from train.signal.split import Windows, concat, split_windows, take_per_class
from train.signal.synth import synthetic_recordings

log = logging.getLogger(__name__)


def load_recordings(config: SignalTrainConfig) -> list[Recording]:
    if config.data.source == "cwru":
        return read_cwru(config.data.root)
    return synthetic_recordings(loads=(config.data.source_load, config.data.target_load), seed=config.seed)


def make_spec(config: SignalTrainConfig, sampling_rate: float, train_x: np.ndarray) -> SignalSpec:
    """The manifest's preprocessing, with normalisation measured on the training windows."""
    f = config.features
    spec = SignalSpec(
        sampling_rate=sampling_rate, window=f.window, hop=f.hop, representation=f.representation,
        n_fft=f.n_fft, fft_hop=f.fft_hop, image_size=f.image_size,
        channels=1 if f.representation == "waveform" else 3,
    )
    if f.representation == "waveform":
        return spec
    feats = features(train_x[:: max(1, len(train_x) // 256)], spec)
    return spec.model_copy(update={"mean": float(feats.mean()), "std": float(feats.std())})


def per_class_accuracy(model: nn.Module, data: Windows, spec: SignalSpec, classes: list[str]) -> dict:
    """Overall accuracy and accuracy (recall) per class present in ``data``."""
    pred = predict(model, data.x, spec)
    per_class = {classes[c]: float((pred[data.y == c] == c).mean()) for c in np.unique(data.y)}
    return {"accuracy": float((pred == data.y).mean()), "windows": len(data), "per_class": per_class}


def predict(model: nn.Module, x: np.ndarray, spec: SignalSpec, batch: int = 256) -> np.ndarray:
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            out.append(model(torch.from_numpy(to_tensor(features(x[i : i + batch], spec), spec))).argmax(1).numpy())
    return np.concatenate(out) if out else np.empty(0, int)


def train_steps(model: nn.Module, data: Windows, spec: SignalSpec, steps: int, lr: float, batch_size: int, seed: int) -> None:
    """``steps`` Adam steps on seeded shuffles of ``data`` (features computed once)."""
    tensor = torch.from_numpy(to_tensor(features(data.x, spec), spec))
    labels = torch.from_numpy(data.y)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=max(steps, 1))
    generator = torch.Generator().manual_seed(seed)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    model.train()
    step = 0
    while step < steps:
        for idx in torch.randperm(len(labels), generator=generator).split(batch_size):
            if step == steps:
                break
            optimiser.zero_grad()
            loss = loss_fn(model(tensor[idx]), labels[idx])
            loss.backward()
            optimiser.step()
            schedule.step()
            step += 1
    model.eval()


def save_checkpoint(
    path: Path, model: nn.Module, config: SignalTrainConfig, classes: list[str], spec: SignalSpec, metrics: dict, eval_load: int
) -> None:
    """Everything export needs: weights, preprocessing, and which load's test segments to measure on."""
    torch.save(
        {
            "task": "signal",
            "config": config.model_dump(mode="json"),
            "eval_load": eval_load,
            "model": config.model.name,
            "state_dict": model.state_dict(),
            "classes": classes,
            "signal": spec.model_dump(mode="json"),
            "metrics": metrics,
        },
        path,
    )


def fit_signal(config: SignalTrainConfig) -> dict:
    """Train, evaluate and fine-tune; writes checkpoints and ``report.json`` under ``config.out``."""
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.optim.threads)
    recordings = load_recordings(config)
    classes = sorted({r.label for r in recordings})
    rates = {r.sampling_rate for r in recordings}
    if len(rates) != 1:
        raise SignalError(f"recordings have different sampling rates {sorted(rates)}; resample them first")
    by_load = {
        load: split_windows([r for r in recordings if r.load == load], classes, config.features.window, config.features.hop, config.data.fractions)
        for load in (config.data.source_load, config.data.target_load)
    }
    source, target = by_load[config.data.source_load], by_load[config.data.target_load]
    if not len(source["train"]) or not len(target["test"]):
        raise SignalError(f"no windows for load {config.data.source_load} (train) or {config.data.target_load} (test)")
    spec = make_spec(config, rates.pop(), source["train"].x)
    built = build_model(config.model.name, len(classes), config.model.weights)
    model = built.module
    steps = config.optim.epochs * -(-len(source["train"]) // config.optim.batch_size)
    log.info("training %s on %d windows (%d steps)", config.model.name, len(source["train"]), steps)
    train_steps(model, source["train"], spec, steps, config.optim.lr, config.optim.batch_size, config.seed)

    config.out.mkdir(parents=True, exist_ok=True)
    report: dict = {"classes": classes, "signal": spec.model_dump(mode="json"), "model": config.model.name}
    report["within_load"] = per_class_accuracy(model, source["test"], spec, classes)
    report["cross_load"] = {}
    save_checkpoint(config.out / "source.pt", model, config, classes, spec, report["within_load"], config.data.source_load)
    for k in config.shots:
        tuned = copy.deepcopy(model)
        if k > 0:
            # k target windows per class, replayed with k source windows per class so that classes
            # absent at the target load (CWRU has no 1 HP normal) are not forgotten.
            shots = concat(take_per_class(target["train"], k, config.seed), take_per_class(source["train"], k, config.seed))
            train_steps(tuned, shots, spec, config.optim.finetune_steps, config.optim.finetune_lr, config.optim.batch_size, config.seed)
        result = per_class_accuracy(tuned, target["test"], spec, classes)
        report["cross_load"][str(k)] = result
        save_checkpoint(config.out / f"target_k{k}.pt", tuned, config, classes, spec, result, config.data.target_load)
        log.info("cross-load k=%d: %.4f", k, result["accuracy"])
    log.info("within-load: %.4f", report["within_load"]["accuracy"])
    (config.out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report
