"""The fine-tuning loop for classification: one entry point, single-process or under ``torchrun``.

The recipes live in ``train.recipe``; this module runs them: data loading, mixed precision,
DistributedDataParallel, per-epoch log, best/last checkpoints, resume and early stopping.
Evaluation goes through edge_runtime's preprocessing (the dataset calls it), so the figures are
what the device will see.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm import tqdm

from edge_runtime.bundle import InputSpec
from edge_runtime.errors import ConfigError
from edge_runtime.yamlconfig import save_config
from train.checkpoints import CHECKPOINT_FORMAT, restore_rng_state, rng_state, save_checkpoint
from train.config import TrainConfig
from train.data import ClassFolderDataset, collate_skipping, fingerprint
from train.metrics import classification_report, plot_confusion_matrix
from train.models import build_model
from train.readers import read_splits
from train.recipe import Recipe
from train.runtime import (
    ProcessGroup,
    autocast,
    close_process_group,
    init_process_group,
    resolve_amp,
    select_device,
)
from train.sampling import EpochSampler

__all__ = ["CHECKPOINT_FORMAT", "EpochResult", "fit", "predict"]

log = logging.getLogger(__name__)


@dataclass
class EpochResult:
    epoch: int
    stage: str
    train_loss: float
    val_top1: float
    images_per_s: float
    skipped: int
    seconds: float


@dataclass
class Progress:
    """What a resumed run must know about the epochs already done."""

    next_epoch: int = 0
    best_top1: float = -1.0
    best_epoch: int = -1
    history: list[EpochResult] = field(default_factory=list)


def _loader(dataset: Dataset, config: TrainConfig, device: torch.device, batch_size: int, sampler: EpochSampler | None = None) -> DataLoader:
    workers = config.data.workers
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        collate_fn=collate_skipping,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0 and sampler is not None,  # the training loader is iterated every epoch
        prefetch_factor=config.data.prefetch if workers > 0 else None,
        generator=torch.Generator().manual_seed(config.seed),  # keeps the global RNG untouched by loaders
    )


@torch.no_grad()
def predict(
    model: nn.Module, loader: DataLoader, device: torch.device, amp: torch.dtype | None = None, channels_last: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    model.eval()
    targets, predictions = [np.empty(0, np.int64)], [np.empty(0, np.int64)]
    for images, labels, _ in loader:
        if len(labels) == 0:
            continue
        images = images.to(device, non_blocking=True)
        with autocast(device, amp):
            logits = model(images.contiguous(memory_format=torch.channels_last) if channels_last else images)
        predictions.append(logits.argmax(1).cpu().numpy())
        targets.append(labels.numpy())
    return np.concatenate(targets), np.concatenate(predictions)


def _gather(group: ProcessGroup, arrays: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    if not group.distributed:
        return arrays
    parts: list[Any] = [None] * group.world
    dist.all_gather_object(parts, arrays)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _wrap(model: nn.Module, group: ProcessGroup, device: torch.device) -> nn.Module:
    """DDP registers the trainable parameters at construction, so it is rebuilt at each stage change."""
    if not group.distributed:
        return model
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def fit(config: TrainConfig, on_epoch_end: Callable[[EpochResult], None] | None = None) -> dict[str, Any]:
    """Fine-tune, keep the best checkpoint by val top-1, evaluate it on the test split.

    Under ``torchrun`` every process calls this; only rank 0 writes files and returns metrics
    (the others return an empty dict). ``on_epoch_end`` runs after each epoch's checkpoints.
    """
    group = init_process_group(config.device)
    if not group.is_main:  # one voice in the log: rank 0 speaks for the run
        logging.getLogger("train").setLevel(logging.WARNING)
    try:
        return _fit(config, group, on_epoch_end)
    finally:
        close_process_group(group)


def _fit(config: TrainConfig, group: ProcessGroup, on_epoch_end: Callable[[EpochResult], None] | None) -> dict[str, Any]:
    if config.optim.batch_size % group.world:
        raise ConfigError(f"optim.batch_size={config.optim.batch_size} must divide evenly across {group.world} processes")
    torch.manual_seed(config.seed)
    device = select_device(config.device, group.local_rank)
    amp = resolve_amp(config.amp, device)
    out = config.out
    if group.is_main:
        out.mkdir(parents=True, exist_ok=True)
        save_config(config, out / "config.yaml")

    splits = read_splits(config.data, config.seed)
    classes = splits.classes
    built = build_model(config.model.name, len(classes), config.model.weights)
    spec = InputSpec(size=config.data.image_size, resize="stretch", colour="rgb", mean=built.mean, std=built.std)
    model = built.module.to(device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)

    train_set = ClassFolderDataset(splits.train, spec, config.augment, seed=config.seed)
    weights = None
    if config.data.balance == "sampler":
        counts = np.bincount(train_set.targets(), minlength=len(classes))
        weights = [1.0 / counts[label] for label in train_set.targets()]
    sampler = EpochSampler(len(train_set), seed=config.seed, weights=weights, rank=group.rank, world=group.world)
    train_loader = _loader(train_set, config, device, config.optim.batch_size // group.world, sampler)
    val_shard = Subset(ClassFolderDataset(splits.val, spec), range(group.rank, len(splits.val), group.world))
    val_loader = _loader(val_shard, config, device, config.optim.batch_size)
    steps = min(len(train_loader), config.max_steps_per_epoch or len(train_loader))
    class_weights = None
    if config.data.balance == "loss":
        counts = np.bincount(train_set.targets(), minlength=len(classes)).astype(np.float32)
        class_weights = torch.tensor(counts.sum() / (len(classes) * np.maximum(counts, 1)), device=device)
    recipe = Recipe(built, config, steps, class_weights)
    scaler = torch.amp.GradScaler(device.type, enabled=amp == torch.float16)

    meta = {
        "task": "classify",
        "model": config.model.name,
        "classes": classes,
        "input": spec.model_dump(mode="json"),
        "dataset_fingerprint": fingerprint(splits.train + splits.val + splits.test),
    }
    progress, resume_state = Progress(), None
    log_path = out / "log.jsonl"
    if config.resume:
        progress, resume_state = _load_resume(config, model, device)
    elif group.is_main:
        log_path.unlink(missing_ok=True)

    wrapped: nn.Module | None = None
    for epoch in range(progress.next_epoch, config.optim.epochs):
        if recipe.begin_epoch(epoch) or wrapped is None:
            wrapped = _wrap(model, group, device)
        if resume_state is not None:
            recipe.load_state_dict(resume_state["recipe"])
            scaler.load_state_dict(resume_state["scaler"])
            restore_rng_state(resume_state["rng"])
            resume_state = None
        sampler.set_epoch(epoch)
        result = _train_epoch(wrapped, recipe, scaler, train_loader, steps, epoch, config, device, amp, group)
        targets, predictions = _gather(group, predict(model, val_loader, device, amp, config.channels_last))
        result.val_top1 = float((targets == predictions).mean())
        progress.history.append(result)
        progress.next_epoch = epoch + 1
        log.info("epoch %d [%s] loss %.4f val top-1 %.4f (%.1f img/s)", result.epoch, result.stage, result.train_loss, result.val_top1, result.images_per_s)
        improved = result.val_top1 > progress.best_top1
        if improved:
            progress.best_top1, progress.best_epoch = result.val_top1, epoch + 1
        if group.is_main:
            with log_path.open("a") as handle:
                handle.write(json.dumps(asdict(result)) + "\n")
            resume = {
                "recipe": recipe.state_dict(),
                "scaler": scaler.state_dict(),
                "rng": rng_state(),
                "progress": {**asdict(progress), "history": [asdict(h) for h in progress.history]},
            }
            save_checkpoint(out / "last.pt", built.module, config, {**meta, "epoch": epoch + 1, "resume": resume})
            if improved:
                save_checkpoint(out / "best.pt", built.module, config, {**meta, "epoch": epoch + 1, "val_top1": result.val_top1})
        if on_epoch_end is not None:
            on_epoch_end(result)
        if epoch + 1 - progress.best_epoch >= config.optim.patience:
            log.info("early stop: no better val top-1 for %d epochs", config.optim.patience)
            break
    if not group.is_main:
        return {}
    return _evaluate_best(config, model, spec, classes, splits.test, progress, device, amp)


def _train_epoch(
    model: nn.Module,
    recipe: Recipe,
    scaler: torch.amp.GradScaler,
    loader: DataLoader,
    steps: int,
    epoch: int,
    config: TrainConfig,
    device: torch.device,
    amp: torch.dtype | None,
    group: ProcessGroup,
) -> EpochResult:
    recipe.train_mode()
    started, seen, skipped, loss_sum = time.perf_counter(), 0, 0, 0.0
    desc = f"epoch {epoch + 1}/{config.optim.epochs} [{recipe.stage}]"
    bar = tqdm(loader, total=steps, desc=desc, leave=False, disable=not group.is_main)
    for step, (images, labels, batch_skipped) in enumerate(bar):
        if step >= steps:
            break
        skipped += batch_skipped
        if len(labels) == 0 and not group.distributed:
            continue
        if len(labels) == 0:  # every rank must join the gradient all-reduce: contribute zeros
            images, labels = torch.zeros(1, 3, *config.data.image_size), torch.zeros(1, dtype=torch.long)
            weight = 0.0
        else:
            weight = 1.0
        images = images.to(device, non_blocking=True)
        if config.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with autocast(device, amp):
            loss = recipe.loss(model(images), labels.to(device, non_blocking=True)) * weight
        recipe.optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(recipe.optimizer)
        scaler.update()
        recipe.scheduler.step()
        count = len(labels) if weight else 0
        seen += count
        loss_sum += loss.item() * count
        bar.set_postfix(loss=f"{loss.item():.3f}")
    seconds = time.perf_counter() - started
    if group.distributed:  # the log reports the whole run, not rank 0's share
        totals = torch.tensor([loss_sum, seen, skipped], dtype=torch.float64)
        dist.all_reduce(totals)
        loss_sum, seen, skipped = totals[0].item(), int(totals[1]), int(totals[2])
    return EpochResult(epoch + 1, recipe.stage, loss_sum / max(seen, 1), float("nan"), seen / seconds, skipped, seconds)


def _load_resume(config: TrainConfig, model: nn.Module, device: torch.device) -> tuple[Progress, dict[str, Any]]:
    path = config.out / "last.pt"
    if not path.is_file():
        raise ConfigError(f"resume=true but {path} does not exist (nothing to resume; drop resume or fix out=)")
    checkpoint = torch.load(path, map_location=device, weights_only=True)
    if "resume" not in checkpoint:
        raise ConfigError(f"{path}: has no resume state (written by an older adit)")
    saved = {k: v for k, v in checkpoint["config"].items() if k != "resume"}
    current = {k: v for k, v in config.model_dump(mode="json").items() if k != "resume"}
    if saved != current:
        changed = sorted(k for k in current if saved.get(k) != current[k])
        log.warning("resuming %s with a changed configuration (%s): the result may differ from an uninterrupted run", path, changed)
    model.load_state_dict(checkpoint["state_dict"])
    state = checkpoint["resume"]
    raw = state["progress"]
    progress = Progress(raw["next_epoch"], raw["best_top1"], raw["best_epoch"], [EpochResult(**h) for h in raw["history"]])
    log.info("resuming %s at epoch %d (best val top-1 %.4f at epoch %d)", path, progress.next_epoch + 1, progress.best_top1, progress.best_epoch)
    return progress, state


def _evaluate_best(config, model, spec, classes, test_samples, progress: Progress, device, amp) -> dict[str, Any]:
    out = config.out
    best = torch.load(out / "best.pt", map_location=device, weights_only=True)
    model.load_state_dict(best["state_dict"])
    test_loader = _loader(ClassFolderDataset(test_samples, spec), config, device, config.optim.batch_size)
    targets, predictions = predict(model, test_loader, device, amp, config.channels_last)
    report = classification_report(targets, predictions, classes)
    plot_confusion_matrix(np.asarray(report["confusion_matrix"]), classes, out / "confusion_matrix.png", "test split (PyTorch)")
    history = progress.history
    metrics = {
        "best_epoch": progress.best_epoch,
        "val_top1": progress.best_top1,
        "test": report,
        "train_images_per_s": float(np.mean([h.images_per_s for h in history])) if history else 0.0,
        "skipped_images": int(sum(h.skipped for h in history)),
        "epochs_run": len(history),
        "seconds": float(sum(h.seconds for h in history)),
        "amp": str(amp).removeprefix("torch.") if amp else "off",
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics
