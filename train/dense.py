"""The training loop detection and segmentation share: AdamW or SGD, cosine schedule with warm-up,
best/last checkpoints by a validation metric, early stopping, a JSON-lines log and ``metrics.json``.

The task packages (``train.detection``, ``train.segmentation``) supply the model, the data, the
loss and an evaluation that goes through edge_runtime's preprocessing and decoding.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn
from torch.utils.data import Dataset
from tqdm import tqdm

from edge_runtime.bundle import InputSpec
from train.augment import AugmentConfig
from train.engine import CHECKPOINT_FORMAT

log = logging.getLogger(__name__)


class LabelledFrames(Dataset):
    """Frames with per-pixel or per-box labels, read and augmented one by one.

    The flip is kept out of ``augment_config`` because it must move the labels with the image; each
    task's ``__getitem__`` applies it (with probability ``hflip``) after the photometric augmentations.
    """

    def __init__(self, samples: list, spec: InputSpec, augment_config: AugmentConfig | None = None, seed: int = 0) -> None:
        self.samples = samples
        self.spec = spec
        self.augment_config = augment_config.model_copy(update={"hflip": 0.0}) if augment_config else None
        self.hflip = augment_config.hflip if augment_config else 0.0
        self.seed = seed

    def __len__(self) -> int:
        return len(self.samples)


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DenseOptimConfig(Section):
    optimizer: Literal["adamw", "sgd"] = "adamw"
    epochs: int = Field(10, ge=1, le=1000)
    batch_size: int = Field(4, ge=1, le=1024)
    lr: float = Field(1e-3, gt=0, le=10)
    weight_decay: float = Field(1e-4, ge=0)
    warmup_fraction: float = Field(0.05, ge=0, lt=1, description="share of steps with a linear lr warm-up")
    patience: int = Field(5, ge=1, description="early stopping: epochs without a better validation metric")


def select_device(choice: str) -> torch.device:
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device=cuda was asked for, but no CUDA device is available")
    return torch.device(choice)


def files_fingerprint(paths: Iterable[Path]) -> str:
    """A digest of file names and sizes: enough to tell two data sets apart in provenance."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(f"{path.parent.name}/{path.name}:{path.stat().st_size}".encode())
    return digest.hexdigest()[:16]


def _optimizer(model: nn.Module, optim: DenseOptimConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if optim.optimizer == "sgd":
        return torch.optim.SGD(params, lr=optim.lr, momentum=0.9, weight_decay=optim.weight_decay)
    return torch.optim.AdamW(params, lr=optim.lr, weight_decay=optim.weight_decay)


def _cosine(optimizer: torch.optim.Optimizer, total: int, warmup_fraction: float) -> torch.optim.lr_scheduler.LambdaLR:
    warmup = max(1, int(total * warmup_fraction))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def save_checkpoint(path: Path, model: nn.Module, config: BaseModel, meta: dict[str, Any]) -> None:
    """A plain dict of tensors and primitives, loadable with ``torch.load(weights_only=True)``."""
    torch.save({"format": CHECKPOINT_FORMAT, "state_dict": model.state_dict(), "config": config.model_dump(mode="json"), **meta}, path)


def run_training(
    *,
    config: Any,
    model: nn.Module,
    loader: torch.utils.data.DataLoader,
    loss_fn: Callable[[nn.Module, Any], torch.Tensor],
    evaluate: Callable[[str], dict[str, Any]],
    metric: str,
    meta: dict[str, Any],
) -> dict[str, Any]:
    """Train, keep the best checkpoint by ``evaluate('val')[metric]``, then report ``evaluate('test')``."""
    out: Path = config.out
    optim: DenseOptimConfig = config.optim
    steps = min(len(loader), config.max_steps_per_epoch or len(loader))
    optimizer = _optimizer(model, optim)
    scheduler = _cosine(optimizer, steps * optim.epochs, optim.warmup_fraction)
    log_path = out / "log.jsonl"
    log_path.unlink(missing_ok=True)
    best_score, best_epoch, seconds, seen_total = -1.0, 0, 0.0, 0
    for epoch in range(optim.epochs):
        model.train()
        started, seen, loss_sum = time.perf_counter(), 0, 0.0
        bar = tqdm(loader, total=steps, desc=f"epoch {epoch + 1}/{optim.epochs}", leave=False)
        for step, batch in enumerate(bar):
            if step >= steps:
                break
            loss = loss_fn(model, batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            seen += len(batch[0])
            loss_sum += loss.item() * len(batch[0])
            bar.set_postfix(loss=f"{loss.item():.3f}")
        precise_batchnorm(model, loader, loss_fn, steps)
        elapsed = time.perf_counter() - started
        seconds, seen_total = seconds + elapsed, seen_total + seen
        score = float(evaluate("val")[metric])
        entry = {"epoch": epoch + 1, "train_loss": loss_sum / max(seen, 1), f"val_{metric}": score, "images_per_s": seen / elapsed, "seconds": elapsed}
        with log_path.open("a") as handle:
            handle.write(json.dumps(entry) + "\n")
        log.info("epoch %d loss %.4f val %s %.4f", epoch + 1, entry["train_loss"], metric, score)
        save_checkpoint(out / "last.pt", model, config, {**meta, "epoch": epoch + 1})
        if score > best_score:
            best_score, best_epoch = score, epoch + 1
            save_checkpoint(out / "best.pt", model, config, {**meta, "epoch": epoch + 1, f"val_{metric}": score})
        if epoch + 1 - best_epoch >= optim.patience:
            log.info("early stop: no better val %s for %d epochs", metric, optim.patience)
            break
    best = torch.load(out / "best.pt", map_location="cpu", weights_only=True)
    model.load_state_dict(best["state_dict"])
    metrics = {
        "best_epoch": best_epoch,
        f"val_{metric}": best_score,
        "test": evaluate("test"),
        "train_images_per_s": seen_total / max(seconds, 1e-9),
        "seconds": seconds,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics



@torch.no_grad()
def precise_batchnorm(model: nn.Module, loader: Iterable[Any], forward: Callable[[nn.Module, Any], Any], max_batches: int) -> None:
    """Re-estimate BatchNorm running statistics as a plain average over training batches.

    Measured on the coal-lump photos: after a short run from random weights, MobileNetV3's
    BatchNorm (momentum 0.01) keeps statistics of the first steps' weights, and the model in eval
    mode predicted background on every pixel (coal IoU 0) while in train mode it found the coal;
    recomputing the statistics gave coal IoU 0.48 with the same weights.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not norms:
        return
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    model.train()
    for index, batch in enumerate(loader):
        if index >= max_batches:
            break
        forward(model, batch)
    for m, momentum in zip(norms, saved, strict=True):
        m.momentum = momentum
