"""The fine-tuning engine for classification.

Two recipes share one loop:
- ``seed``: the classic transfer-learning reference, kept faithful: all layers, SGD lr 0.001,
  momentum 0.9, step decay, plain cross-entropy.
- ``default``: head warm-up with the backbone frozen (cheap: no backward through the backbone),
  then the whole model with a lower backbone learning rate, AdamW, cosine schedule with warm-up,
  label smoothing.
Evaluation goes through edge_runtime's preprocessing (the dataset calls it), so the figures are
what the device will see.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, WeightedRandomSampler
from tqdm import tqdm

from edge_runtime.bundle import InputSpec
from edge_runtime.yamlconfig import save_config
from train.config import TrainConfig
from train.data import ClassFolderDataset, collate_skipping, fingerprint, list_class_folders
from train.metrics import classification_report, plot_confusion_matrix
from train.models import BuiltModel, build_model

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "adit-checkpoint-v1"


@dataclass
class EpochResult:
    epoch: int
    stage: str
    train_loss: float
    val_top1: float
    images_per_s: float
    skipped: int
    seconds: float


def select_device(choice: str) -> torch.device:
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device=cuda was asked for, but no CUDA device is available")
    return torch.device(choice)


def _loader(dataset: ClassFolderDataset, config: TrainConfig, *, train: bool) -> DataLoader:
    sampler = None
    if train and config.data.balance == "sampler":
        counts = np.bincount(dataset.targets())
        weights = [1.0 / counts[label] for label in dataset.targets()]
        sampler = WeightedRandomSampler(weights, num_samples=len(weights), generator=torch.Generator().manual_seed(config.seed))
    return DataLoader(
        dataset,
        batch_size=config.optim.batch_size,
        shuffle=train and sampler is None,
        sampler=sampler,
        num_workers=config.data.workers,
        collate_fn=collate_skipping,
        generator=torch.Generator().manual_seed(config.seed),
    )


def _set_backbone_trainable(built: BuiltModel, trainable: bool) -> None:
    head_params = {id(p) for p in built.head.parameters()}
    for param in built.module.parameters():
        if id(param) not in head_params:
            param.requires_grad_(trainable)


def _param_groups(built: BuiltModel, config: TrainConfig) -> list[dict[str, Any]]:
    head_params = list(built.head.parameters())
    head_ids = {id(p) for p in head_params}
    backbone = [p for p in built.module.parameters() if id(p) not in head_ids]
    return [
        {"params": backbone, "lr": config.optim.lr * config.optim.backbone_lr_scale},
        {"params": head_params, "lr": config.optim.lr},
    ]


class Recipe:
    """Optimiser, schedule and freezing for one stage of training."""

    def __init__(self, built: BuiltModel, config: TrainConfig, steps_per_epoch: int, class_weights: torch.Tensor | None):
        self.built = built
        self.config = config
        self.steps_per_epoch = steps_per_epoch
        smoothing = config.optim.label_smoothing if config.optim.recipe == "default" else 0.0
        self.loss = nn.CrossEntropyLoss(weight=class_weights, label_smoothing=smoothing)
        self.stage = ""
        self.optimizer: torch.optim.Optimizer
        self.scheduler: torch.optim.lr_scheduler.LRScheduler

    def begin_epoch(self, epoch: int) -> str:
        """Switch stage at epoch boundaries; returns the stage name for the log."""
        optim = self.config.optim
        if optim.recipe == "seed":
            if not self.stage:
                self.stage = "seed"
                self.optimizer = torch.optim.SGD(self.built.module.parameters(), lr=optim.lr, momentum=0.9)
                self.scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, step_size=7 * self.steps_per_epoch, gamma=0.1)
            return self.stage
        wanted = "head" if epoch < optim.warmup_epochs else "full"
        if wanted != self.stage:
            self.stage = wanted
            _set_backbone_trainable(self.built, wanted == "full")
            groups = [{"params": list(self.built.head.parameters()), "lr": optim.lr}] if wanted == "head" else _param_groups(self.built, self.config)
            self.optimizer = torch.optim.AdamW(groups, weight_decay=optim.weight_decay)
            epochs = optim.warmup_epochs if wanted == "head" else optim.epochs - optim.warmup_epochs
            self.scheduler = _cosine_with_warmup(self.optimizer, total=max(1, epochs * self.steps_per_epoch))
        return self.stage

    def train_mode(self) -> None:
        """Frozen backbone layers stay in eval mode so BatchNorm statistics are not disturbed."""
        self.built.module.train()
        if self.stage == "head":
            self.built.module.eval()
            self.built.head.train()


def _cosine_with_warmup(optimizer: torch.optim.Optimizer, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    warmup = max(1, total // 20)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


@torch.no_grad()
def predict(model: nn.Module, loader: DataLoader, device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    model.eval()
    targets, predictions = [], []
    for images, labels, _ in loader:
        if len(labels) == 0:
            continue
        logits = model(images.to(device).contiguous(memory_format=torch.channels_last))
        predictions.append(logits.argmax(1).cpu().numpy())
        targets.append(labels.numpy())
    return np.concatenate(targets), np.concatenate(predictions)


def save_checkpoint(path: Path, built: BuiltModel, config: TrainConfig, meta: dict[str, Any]) -> None:
    """A plain dict of tensors and primitives, loadable with ``torch.load(weights_only=True)``."""
    torch.save({"format": CHECKPOINT_FORMAT, "state_dict": built.module.state_dict(), "config": config.model_dump(mode="json"), **meta}, path)


def fit(config: TrainConfig) -> dict[str, Any]:
    """Fine-tune, keep the best checkpoint by val top-1, evaluate it on the test split."""
    torch.manual_seed(config.seed)
    device = select_device(config.device)
    out = config.out
    out.mkdir(parents=True, exist_ok=True)
    save_config(config, out / "config.yaml")

    classes, train_samples = list_class_folders(config.data.root / "train")
    _, val_samples = list_class_folders(config.data.root / "val", classes)
    _, test_samples = list_class_folders(config.data.root / "test", classes)

    built = build_model(config.model.name, len(classes), config.model.weights)
    spec = InputSpec(size=config.data.image_size, resize="stretch", colour="rgb", mean=built.mean, std=built.std)
    model = built.module.to(device).to(memory_format=torch.channels_last)

    train_set = ClassFolderDataset(train_samples, spec, config.augment, seed=config.seed)
    val_loader = _loader(ClassFolderDataset(val_samples, spec), config, train=False)
    train_loader = _loader(train_set, config, train=True)
    steps = min(len(train_loader), config.max_steps_per_epoch or len(train_loader))
    class_weights = None
    if config.data.balance == "loss":
        counts = np.bincount(train_set.targets(), minlength=len(classes)).astype(np.float32)
        class_weights = torch.tensor(counts.sum() / (len(classes) * np.maximum(counts, 1)), device=device)
    recipe = Recipe(built, config, steps, class_weights)

    meta = {
        "task": "classify",
        "model": config.model.name,
        "classes": classes,
        "input": spec.model_dump(mode="json"),
        "dataset_fingerprint": fingerprint(train_samples + val_samples + test_samples),
    }
    best_top1, best_epoch, history = -1.0, -1, []
    log_path = out / "log.jsonl"
    log_path.unlink(missing_ok=True)
    for epoch in range(config.optim.epochs):
        stage = recipe.begin_epoch(epoch)
        train_set.epoch = epoch
        recipe.train_mode()
        started, seen, skipped, loss_sum = time.perf_counter(), 0, 0, 0.0
        bar = tqdm(train_loader, total=steps, desc=f"epoch {epoch + 1}/{config.optim.epochs} [{stage}]", leave=False)
        for step, (images, labels, batch_skipped) in enumerate(bar):
            if step >= steps:
                break
            skipped += batch_skipped
            if len(labels) == 0:
                continue
            images = images.to(device).contiguous(memory_format=torch.channels_last)
            loss = recipe.loss(model(images), labels.to(device))
            recipe.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            recipe.optimizer.step()
            recipe.scheduler.step()
            seen += len(labels)
            loss_sum += loss.item() * len(labels)
            bar.set_postfix(loss=f"{loss.item():.3f}")
        train_seconds = time.perf_counter() - started
        targets, predictions = predict(model, val_loader, device)
        val_top1 = float((targets == predictions).mean())
        result = EpochResult(epoch + 1, stage, loss_sum / max(seen, 1), val_top1, seen / train_seconds, skipped, train_seconds)
        history.append(result)
        with log_path.open("a") as handle:
            handle.write(json.dumps(result.__dict__) + "\n")
        log.info("epoch %d [%s] loss %.4f val top-1 %.4f (%.1f img/s)", result.epoch, stage, result.train_loss, val_top1, result.images_per_s)
        save_checkpoint(out / "last.pt", built, config, {**meta, "epoch": epoch + 1})
        if val_top1 > best_top1:
            best_top1, best_epoch = val_top1, epoch + 1
            save_checkpoint(out / "best.pt", built, config, {**meta, "epoch": epoch + 1, "val_top1": val_top1})
        if epoch + 1 - best_epoch >= config.optim.patience:
            log.info("early stop: no better val top-1 for %d epochs", config.optim.patience)
            break

    best = torch.load(out / "best.pt", map_location=device, weights_only=True)
    model.load_state_dict(best["state_dict"])
    targets, predictions = predict(model, _loader(ClassFolderDataset(test_samples, spec), config, train=False), device)
    report = classification_report(targets, predictions, classes)
    plot_confusion_matrix(np.asarray(report["confusion_matrix"]), classes, out / "confusion_matrix.png", "test split (PyTorch FP32)")
    metrics = {
        "best_epoch": best_epoch,
        "val_top1": best_top1,
        "test": report,
        "train_images_per_s": float(np.mean([h.images_per_s for h in history])),
        "skipped_images": int(sum(h.skipped for h in history)),
        "epochs_run": len(history),
        "seconds": float(sum(h.seconds for h in history)),
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics
