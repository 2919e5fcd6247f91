"""The one training loop, for every task: single-process or under ``torchrun`` (DDP, gloo on a CPU).

The task supplies data, model, loss and evaluation (``train.task``); this module runs them: seeded
data order, mixed precision where the hardware has it (reported), channels-last image models,
DistributedDataParallel, a progress bar, the best checkpoint by the task's metric, early stopping,
``--resume`` and a JSON-lines log. Evaluation is always FP32 and goes through edge_runtime's
preprocessing and decoding (``Predictor``), so the figures are what the device will compute.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from edge_runtime.errors import ConfigError
from edge_runtime.model import Predictor
from edge_runtime.yamlconfig import save_config
from train.adapt import average_with_start, retraining
from train.checkpoint import CheckpointMeta, ModelRef, read_checkpoint, save_checkpoint
from train.config import RunConfig
from train.evaluation import EvalReport, evaluate, module_predictor
from train.metrics import plot_confusion_matrix
from train.runtime import (
    ProcessGroup,
    TimeBudget,
    autocast,
    close_process_group,
    init_process_group,
    resolve_amp,
    restore_rng,
    rng_state,
    select_device,
)
from train.setup import Setup, prepare, to_device
from train.task import Task, get_task

__all__ = ["EpochResult", "RunFailed", "fit"]

log = logging.getLogger(__name__)


class RunFailed(Exception):
    """Training itself failed (the loss diverged): exit 1, unlike bad input (exit 2)."""


@dataclass
class EpochResult:
    epoch: int
    stage: str
    train_loss: float
    val: float  # the task's metric on the validation split
    images_per_s: float
    skipped: int
    seconds: float


@dataclass
class Progress:
    """What a resumed run must know about the epochs already done."""

    next_epoch: int = 0
    best: float = -1.0
    best_epoch: int = -1
    history: list[EpochResult] = field(default_factory=list)


def fit(
    config: RunConfig,
    on_epoch_end: Callable[[EpochResult], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Train ``config.task``, keep the best checkpoint by its validation metric, evaluate it on test.

    Under ``torchrun`` every process calls this; only rank 0 writes files and returns metrics
    (the others return an empty dict). ``on_epoch_end`` runs after each epoch's checkpoints; ``clock``
    (monotonic seconds) times the epochs and ``optim.max_minutes``.
    """
    task = get_task(config.task)
    config = task.run_config(retraining(config))
    group = init_process_group(config.device)
    if not group.is_main:  # one voice in the log: rank 0 speaks for the run
        logging.getLogger("train").setLevel(logging.WARNING)
    try:
        return _Run(task, config, group, clock).fit(on_epoch_end)
    finally:
        close_process_group(group)


class _Run:
    def __init__(
        self, task: Task, config: RunConfig, group: ProcessGroup, clock: Callable[[], float]
    ) -> None:
        if config.optim.batch_size % group.world:
            raise ConfigError(
                f"optim.batch_size={config.optim.batch_size} must divide evenly "
                f"across {group.world} processes"
            )
        torch.manual_seed(config.seed)
        self.task, self.config, self.group, self.clock = task, config, group, clock
        self.budget = TimeBudget(config.optim.max_minutes, clock, group)
        self.device = select_device(config.device, group.local_rank)
        self.amp = resolve_amp(config.amp, self.device)
        if group.is_main:
            config.out.mkdir(parents=True, exist_ok=True)
            save_config(config, config.out / "config.yaml")
            precision = f"autocast {self.amp_name}" if self.amp else "fp32"
            log.info("training %s on %s, %s", task.name, self.device, precision)
        self.setup: Setup = prepare(task, config, group, self.device)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp == torch.float16)
        self.last_batch: tuple[Any, Any] | None = None  # stands in for an all-unreadable batch under DDP
        self.updates = 0  # optimiser steps so far (the EMA's warm-up counts them)

    @property
    def amp_name(self) -> str:
        return str(self.amp).removeprefix("torch.") if self.amp else "off"

    def fit(self, on_epoch_end: Callable[[EpochResult], None] | None) -> dict[str, Any]:
        config, setup = self.config, self.setup
        progress, resume = Progress(), None
        if config.resume:
            progress, resume = self._load_resume()
        elif self.group.is_main:
            (config.out / "log.jsonl").unlink(missing_ok=True)
        if config.optim.epochs == 0:  # nothing to train: the initial weights are the result
            report = self._validate()
            progress.best, progress.best_epoch = report.value, 0
            self._save(0, report, improved=True, progress=progress)
        wrapped: nn.Module | None = None
        self.budget.start()
        for epoch in range(progress.next_epoch, config.optim.epochs):
            if setup.recipe.begin_epoch(epoch) or wrapped is None:
                wrapped = self._wrap(setup.built.module)
            if resume is not None:
                setup.recipe.load_state_dict(resume["recipe"])
                self.scaler.load_state_dict(resume["scaler"])
                restore_rng(resume["rng"])
                resume = None
            setup.sampler.set_epoch(epoch)
            self.updates = epoch * setup.steps
            result = self._train_epoch(wrapped, epoch)
            if config.optim.precise_bn:
                self._precise_batchnorm()
            report = self._validate()
            result.val = report.value
            progress.history.append(result)
            progress.next_epoch = epoch + 1
            improved = result.val > progress.best or config.optim.keep == "last"
            if improved:
                progress.best, progress.best_epoch = result.val, epoch + 1
            log.info("epoch %d [%s] loss %.4f val %s %.4f (%.1f items/s)", result.epoch, result.stage,
                     result.train_loss, self.task.metric, result.val, result.images_per_s)  # fmt: skip
            self._save(epoch + 1, report, improved=improved, progress=progress)
            if on_epoch_end is not None:
                on_epoch_end(result)
            if self.budget.spent():
                log.info("time budget spent: optim.max_minutes=%s", config.optim.max_minutes)
                break
            if epoch + 1 - progress.best_epoch >= config.optim.patience:
                log.info(
                    "early stop: no better val %s for %d epochs", self.task.metric, config.optim.patience
                )
                break
        if self.group.is_main and (averaged := average_with_start(config, self._measure)) is not None:
            progress.best = averaged[self.task.metric]  # the figures are the averaged weights' (WiSE-FT)
        return self._finish(progress) if self.group.is_main else {}

    def _wrap(self, model: nn.Module) -> nn.Module:
        """DDP registers the trainable parameters at construction, so it is rebuilt at each stage change."""
        if not self.group.distributed:
            return model
        return DistributedDataParallel(
            model, device_ids=[self.device.index] if self.device.type == "cuda" else None
        )

    def _train_epoch(self, model: nn.Module, epoch: int) -> EpochResult:
        setup, group = self.setup, self.group
        setup.recipe.train_mode()
        started, seen, skipped, loss_sum = self.clock(), 0, 0, 0.0
        desc = f"epoch {epoch + 1}/{self.config.optim.epochs} [{setup.recipe.stage}]"
        bar = tqdm(setup.loader, total=setup.steps, desc=desc, leave=False, disable=not group.is_main)
        for step, (inputs, targets, batch_skipped) in enumerate(bar):
            if step >= setup.steps:
                break
            skipped += batch_skipped
            count, weight = len(inputs), 1.0
            if count:
                self.last_batch = (inputs, targets)
            elif not group.distributed:
                continue
            elif self.last_batch is None:
                raise ConfigError(
                    f"rank {group.rank}: every item of its first batch is unreadable (run `train doctor`)"
                )
            else:  # every rank must join the gradient all-reduce: contribute a zero-weighted batch
                (inputs, targets), weight = self.last_batch, 0.0
            loss = self._step(model, inputs, targets, weight)
            seen += count
            loss_sum += loss * count
            bar.set_postfix(loss=f"{loss:.3f}")
            if self.budget.spent():
                break
        seconds = self.clock() - started
        if group.distributed:  # the log reports the whole run, not rank 0's share
            totals = torch.tensor([loss_sum, seen, skipped], dtype=torch.float64)
            dist.all_reduce(totals)
            loss_sum, seen, skipped = totals[0].item(), int(totals[1]), int(totals[2])
        return EpochResult(
            epoch + 1,
            setup.recipe.stage,
            loss_sum / max(seen, 1),
            float("nan"),
            seen / seconds,
            skipped,
            seconds,
        )

    def _step(self, model: nn.Module, inputs: Any, targets: Any, weight: float) -> float:
        recipe = self.setup.recipe
        inputs, targets = to_device(inputs, self.device), to_device(targets, self.device)
        if self.setup.channels_last and isinstance(inputs, torch.Tensor) and inputs.ndim == 4:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        with autocast(self.device, self.amp):
            loss = self.setup.loss(model, inputs, targets) * weight
        recipe.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(recipe.optimizer)
        self.scaler.update()
        recipe.scheduler.step()
        self.updates += 1
        if self.setup.ema is not None:
            self.setup.ema.update(self.setup.built.module, step=self.updates)
        value = float(loss.item())
        if not math.isfinite(value):
            raise RunFailed(
                f"the training loss became {value} ({recipe.stage} stage); lower optim.lr or check the data"
            )
        return value

    @torch.no_grad()
    def _precise_batchnorm(self) -> None:
        """Re-estimate BatchNorm running statistics as a plain average over training batches.

        Measured on the coal-lump photos: after a short run from random weights, MobileNetV3's
        BatchNorm (momentum 0.01) keeps statistics of the first steps' weights, and the model in eval
        mode predicted background on every pixel (coal IoU 0) while in train mode it found the coal;
        recomputing the statistics gave coal IoU 0.48 with the same weights.
        """
        model = self.setup.evaluated
        norms = [
            m
            for m in model.modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
        ]
        saved = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average
        model.train()
        for index, (inputs, targets, _) in enumerate(self.setup.loader):
            if index >= self.setup.steps:
                break
            if len(inputs):
                with autocast(self.device, self.amp):
                    self.setup.loss(model, to_device(inputs, self.device), to_device(targets, self.device))
        for m, momentum in zip(norms, saved, strict=True):
            m.momentum = momentum
        if self.group.distributed:  # every rank evaluates with rank 0's statistics
            for buffer in model.buffers():
                dist.broadcast(buffer, src=0)

    def _validate(self) -> EvalReport:
        return evaluate(self.task, self._predictor(), self.setup.data.val, self.group)

    def _measure(self, state: dict[str, torch.Tensor]) -> dict[str, float]:
        """The validation figures of ``state`` (rank 0 alone, after training)."""
        self.setup.evaluated.load_state_dict(state)
        report = evaluate(self.task, self._predictor(), self.setup.data.val)
        return report.manifest_metrics(*self.task.class_figures)

    def _predictor(self) -> Predictor:
        module = self.task.export_module(self.setup.evaluated)
        return module_predictor(self.setup.interface, module, self.device, self.setup.channels_last)

    def _meta(self, epoch: int, report: EvalReport) -> CheckpointMeta:
        setup = self.setup
        return CheckpointMeta(
            model=ModelRef(name=self.config.model.name, arguments=setup.request.rebuild_arguments()),
            interface=setup.interface,
            epoch=epoch,
            metrics=report.manifest_metrics(*self.task.class_figures),
            data_fingerprint=setup.data.fingerprint,
            config=self.config.model_dump(mode="json"),
            amp=self.amp_name,
        )

    def _save(self, epoch: int, report: EvalReport, *, improved: bool, progress: Progress) -> None:
        if not self.group.is_main:
            return
        out, state = self.config.out, self.setup.evaluated.state_dict()
        if epoch:
            with (out / "log.jsonl").open("a") as handle:
                handle.write(json.dumps({**asdict(progress.history[-1]), "metric": self.task.metric}) + "\n")
        resume = {
            "recipe": self.setup.recipe.state_dict() if epoch else None,
            "scaler": self.scaler.state_dict(),
            "rng": rng_state(),
            # the trained weights, when the checkpoint's are their EMA
            "model": self.setup.built.module.state_dict() if self.setup.ema is not None else None,
            "progress": {**asdict(progress), "history": [asdict(h) for h in progress.history]},
        }
        meta = self._meta(epoch, report)
        save_checkpoint(out / "last.pt", meta, state, resume)
        if improved:
            save_checkpoint(out / "best.pt", meta, state)

    def _load_resume(self) -> tuple[Progress, dict[str, Any]]:
        path = self.config.out / "last.pt"
        if not path.is_file():
            raise ConfigError(
                f"resume=true but {path} does not exist (nothing to resume; drop resume or fix out=)"
            )
        checkpoint = read_checkpoint(path, map_location=self.device)
        if checkpoint.resume is None or checkpoint.resume["recipe"] is None:
            raise ConfigError(f"{path}: has no resume state (no epoch was trained)")
        if checkpoint.meta.interpolated is not None:
            raise ConfigError(
                f"{path}: its weights are averaged with the run's start (site.interpolate), not as trained; "
                "a finished run: start a new one to train further"
            )
        saved = {k: v for k, v in checkpoint.meta.config.items() if k != "resume"}
        current = {k: v for k, v in self.config.model_dump(mode="json").items() if k != "resume"}
        if saved != current:
            changed = sorted(k for k in current if saved.get(k) != current[k])
            log.warning(
                "resuming %s with a changed configuration (%s): it may end unlike a run without a stop",
                path,
                changed,
            )
        self.setup.evaluated.load_state_dict(checkpoint.state_dict)
        if self.setup.ema is not None:
            if checkpoint.resume.get("model") is None:
                raise ConfigError(f"{path}: was trained without optim.ema; resume it without ema")
            self.setup.built.module.load_state_dict(checkpoint.resume["model"])
        raw = checkpoint.resume["progress"]
        history = [EpochResult(**h) for h in raw["history"]]
        progress = Progress(raw["next_epoch"], raw["best"], raw["best_epoch"], history)
        log.info("resuming %s at epoch %d (best val %s %.4f at epoch %d)", path, progress.next_epoch + 1,
                 self.task.metric, progress.best, progress.best_epoch)  # fmt: skip
        return progress, checkpoint.resume

    def _finish(self, progress: Progress) -> dict[str, Any]:
        """The best checkpoint on the test split, in FP32, by rank 0 alone."""
        out = self.config.out
        self.setup.evaluated.load_state_dict(
            read_checkpoint(out / "best.pt", map_location=self.device).state_dict
        )
        report = evaluate(self.task, self._predictor(), self.setup.data.test)
        if report.confusion is not None:
            plot_confusion_matrix(
                np.asarray(report.confusion),
                self.setup.data.classes,
                out / "confusion_matrix.png",
                "test split (PyTorch FP32)",
            )
        history = progress.history
        seconds = sum(h.seconds for h in history)
        metrics = {
            "task": self.task.name,
            "metric": self.task.metric,
            "best_epoch": progress.best_epoch,
            f"val_{self.task.metric}": progress.best,
            "test": report.model_dump(mode="json"),
            "train_images_per_s": sum(h.images_per_s * h.seconds for h in history) / seconds
            if seconds
            else 0.0,
            "skipped_images": int(sum(h.skipped for h in history)),
            "epochs_run": len(history),
            "seconds": seconds,
            "amp": self.amp_name,
        }
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
        return metrics
