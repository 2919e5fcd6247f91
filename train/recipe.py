"""Optimiser, schedule, loss and freezing for the two recipes.

- ``seed``: the classic transfer-learning reference, kept faithful: all layers, SGD lr 0.001,
  momentum 0.9, step decay (x0.1 every 7 epochs), plain cross-entropy.
- ``default``: head warm-up with the backbone frozen (cheap: no backward through the backbone),
  then the whole model (less the ``freeze_fraction`` of backbone layers nearest the input) with a
  lower backbone learning rate, AdamW or SGD, cosine schedule with warm-up, label smoothing.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from train.config import TrainConfig
from train.models import BuiltModel


def backbone_layers(built: BuiltModel) -> list[nn.Module]:
    """Modules that own parameters directly, input side first, excluding the new head.

    Not only leaves: timm's BatchNormAct2d owns its affine parameters and has child modules.
    """
    head = {id(m) for m in built.head.modules()}
    return [m for m in built.module.modules() if id(m) not in head and next(m.parameters(recurse=False), None) is not None]


class Recipe:
    """One run's optimisation; ``begin_epoch`` switches stage, ``state_dict`` is what resume needs."""

    def __init__(self, built: BuiltModel, config: TrainConfig, steps_per_epoch: int, class_weights: torch.Tensor | None):
        self.built = built
        self.config = config
        self.steps_per_epoch = steps_per_epoch
        smoothing = config.optim.label_smoothing if config.optim.recipe == "default" else 0.0
        self.loss = nn.CrossEntropyLoss(weight=class_weights, label_smoothing=smoothing)
        self.stage = ""
        self.frozen: list[nn.Module] = []
        self.optimizer: torch.optim.Optimizer
        self.scheduler: torch.optim.lr_scheduler.LRScheduler

    def stage_for(self, epoch: int) -> str:
        if self.config.optim.recipe == "seed":
            return "seed"
        return "head" if epoch < self.config.optim.warmup_epochs else "full"

    def begin_epoch(self, epoch: int) -> bool:
        """Switch stage at epoch boundaries; True when the trainable parameters changed."""
        wanted = self.stage_for(epoch)
        if wanted == self.stage:
            return False
        self.stage = wanted
        optim = self.config.optim
        if wanted == "seed":
            self.optimizer = torch.optim.SGD(self.built.module.parameters(), lr=optim.lr, momentum=0.9)
            self.scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, step_size=7 * self.steps_per_epoch, gamma=0.1)
            return True
        layers = backbone_layers(self.built)
        self.frozen = layers if wanted == "head" else layers[: int(len(layers) * optim.freeze_fraction)]
        frozen_ids = {id(p) for m in self.frozen for p in m.parameters()}
        for param in self.built.module.parameters():
            param.requires_grad_(id(param) not in frozen_ids)
        head_ids = {id(p) for p in self.built.head.parameters()}
        backbone = [p for p in self.built.module.parameters() if p.requires_grad and id(p) not in head_ids]
        groups: list[dict[str, Any]] = [{"params": list(self.built.head.parameters()), "lr": optim.lr}]
        if backbone:
            groups.append({"params": backbone, "lr": optim.lr * optim.backbone_lr_scale})
        if optim.optimizer == "sgd":
            self.optimizer = torch.optim.SGD(groups, momentum=0.9, nesterov=True, weight_decay=optim.weight_decay)
        else:
            self.optimizer = torch.optim.AdamW(groups, weight_decay=optim.weight_decay)
        epochs = optim.warmup_epochs if wanted == "head" else optim.epochs - optim.warmup_epochs
        self.scheduler = cosine_with_warmup(self.optimizer, total=max(1, epochs * self.steps_per_epoch))
        return True

    def train_mode(self) -> None:
        """Frozen layers stay in eval mode so their BatchNorm statistics are not disturbed."""
        if self.stage == "head":  # the whole backbone is fixed: no dropout or drop-path there either
            self.built.module.eval()
            self.built.head.train()
            return
        self.built.module.train()
        for module in self.frozen:
            module.eval()

    def state_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the optimiser only if the saved stage is the current one (else it starts fresh anyway)."""
        if state["stage"] == self.stage:
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])


def cosine_with_warmup(optimizer: torch.optim.Optimizer, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    warmup = max(1, total // 20)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
