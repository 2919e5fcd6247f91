"""Optimiser, schedule and freezing for the two recipes, whatever the task.

- ``seed``: the classic transfer-learning reference, kept faithful: all layers, SGD lr 0.001,
  momentum 0.9, step decay (x0.1 every 7 epochs).
- ``default``: head warm-up with the backbone frozen (cheap: no backward through the backbone)
  for ``warmup_epochs``, then the whole model (less the ``freeze_fraction`` of backbone layers
  nearest the input) with a lower backbone learning rate, AdamW or SGD, and torch's cosine schedule
  after a linear warm-up. Tasks set their own defaults (detectors train everything from epoch 0).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.optim.lr_scheduler import CosineAnnealingLR, LinearLR, LRScheduler, SequentialLR, StepLR

from edge_runtime.errors import ConfigError
from train.config import OptimConfig
from train.finetune import param_groups
from train.models import BuiltModel


def backbone_layers(built: BuiltModel) -> list[nn.Module]:
    """Modules that own parameters directly, input side first, excluding the new head.

    Not only leaves: timm's BatchNormAct2d owns its affine parameters and has child modules.
    """
    head = {id(m) for m in built.head.modules()} if built.head is not None else set()
    return [
        m
        for m in built.module.modules()
        if id(m) not in head and next(m.parameters(recurse=False), None) is not None
    ]


class Recipe:
    """One run's optimisation; ``begin_epoch`` switches stage, ``state_dict`` is what resume needs."""

    def __init__(self, built: BuiltModel, optim: OptimConfig, steps_per_epoch: int):
        self.built = built
        self.optim = optim
        self.steps_per_epoch = steps_per_epoch
        self.stage = ""
        self.frozen: list[nn.Module] = []
        self.optimizer: torch.optim.Optimizer
        self.scheduler: LRScheduler

    @property
    def warms_up(self) -> bool:
        return self.optim.recipe == "default" and self.built.head is not None and self.optim.warmup_epochs > 0

    def stage_for(self, epoch: int) -> str:
        if self.optim.recipe == "seed":
            return "seed"
        return "head" if self.warms_up and epoch < self.optim.warmup_epochs else "full"

    def begin_epoch(self, epoch: int) -> bool:
        """Switch stage at epoch boundaries; True when the trainable parameters changed."""
        wanted = self.stage_for(epoch)
        if wanted == self.stage:
            return False
        self.stage = wanted
        optim = self.optim
        if wanted == "seed":
            self.optimizer = torch.optim.SGD(self.built.module.parameters(), lr=optim.lr, momentum=0.9)
            self.scheduler = StepLR(self.optimizer, step_size=7 * self.steps_per_epoch, gamma=0.1)
            return True
        layers = backbone_layers(self.built)
        self.frozen = layers if wanted == "head" else self._frozen_after_warmup(layers)
        frozen_ids = {id(p) for m in self.frozen for p in m.parameters()}
        for param in self.built.module.parameters():
            param.requires_grad_(id(param) not in frozen_ids)
        self.optimizer = self._optimizer(self._groups())
        warm = optim.warmup_epochs if self.warms_up else 0
        epochs = warm if wanted == "head" else optim.epochs - warm
        self.scheduler = cosine_with_warmup(
            self.optimizer, max(1, epochs * self.steps_per_epoch), optim.warmup_fraction
        )
        return True

    def _frozen_after_warmup(self, layers: list[nn.Module]) -> list[nn.Module]:
        """The stem and ``freeze_stages`` stages (or the ``freeze_fraction`` of layers nearest the
        input), plus every backbone BatchNorm with ``freeze_bn``."""
        optim = self.optim
        if optim.freeze_stages is None:
            frozen = layers[: int(len(layers) * optim.freeze_fraction)]
        elif not self.built.stages:
            raise ConfigError(
                "optim.freeze_stages: this model declares no backbone stages; use optim.freeze_fraction"
            )
        else:
            frozen = list(self.built.stages[: optim.freeze_stages + 1])
        if optim.freeze_bn:
            frozen += [m for m in layers if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        return frozen

    def _groups(self) -> list[dict[str, Any]]:
        """The new head at ``lr``; the pretrained rest at ``lr * backbone_lr_scale``."""
        trainable = [p for p in self.built.module.parameters() if p.requires_grad]
        optim = self.optim
        return param_groups(
            trainable,
            self.built.head,
            optim.lr,
            optim.backbone_lr_scale,
            optim.weight_decay,
            optim.norm_decay,
        )

    def _optimizer(self, groups: list[dict[str, Any]]) -> torch.optim.Optimizer:
        if self.optim.optimizer == "sgd":
            return torch.optim.SGD(groups, momentum=0.9, nesterov=True, weight_decay=self.optim.weight_decay)
        return torch.optim.AdamW(groups, weight_decay=self.optim.weight_decay)

    def train_mode(self) -> None:
        """Frozen layers stay in eval mode so their BatchNorm statistics are not disturbed."""
        if (
            self.stage == "head" and self.built.head is not None
        ):  # the backbone is fixed: no dropout or drop-path
            self.built.module.eval()
            self.built.head.train()
            return
        self.built.module.train()
        for module in self.frozen:
            module.eval()

    def state_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the optimiser only if the saved stage is the current one (else it starts fresh anyway)."""
        if state["stage"] == self.stage:
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])


def cosine_with_warmup(optimizer: torch.optim.Optimizer, total: int, warmup_fraction: float) -> LRScheduler:
    """Linear warm-up over ``warmup_fraction`` of ``total`` steps (at least one), then cosine to 0."""
    warmup = min(max(1, int(total * warmup_fraction)), total)
    ramp = LinearLR(optimizer, start_factor=1.0 / warmup, end_factor=1.0, total_iters=max(1, warmup - 1))
    if warmup >= total:
        return ramp
    return SequentialLR(
        optimizer, [ramp, CosineAnnealingLR(optimizer, T_max=total - warmup)], milestones=[warmup]
    )
