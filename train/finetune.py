"""Fine-tuning that protects pretrained features: frozen BatchNorm, a frozen stem, a lower backbone
learning rate, warm-up + cosine, and a weight EMA.

Measured on the PPE photos (issue 14): FCOS on a Lite0 pyramid trained with AdamW 1e-3 on every
layer and the backbone's BatchNorm in training mode reached mAP@0.5 0.082 from ImageNet weights and
0.196 from scratch: small detection batches re-estimate BatchNorm statistics badly and a full
learning rate rewrites the first layers before the new head has learned anything. These pieces are
task-neutral (any model with a ``backbone`` module); the training engine composes them.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


def freeze_batchnorm(module: nn.Module) -> nn.Module:
    """BatchNorm (and timm's BatchNormAct) -> frozen copies with the same statistics and ``eps``.

    Returns the converted module (the root itself may be replaced); its ``state_dict`` keeps the
    same keys but ``num_batches_tracked``, so checkpoints load into the unfrozen model for export.
    """
    from timm.layers import freeze_batch_norm_2d

    return freeze_batch_norm_2d(module)


def freeze_stem(body: nn.Module, stages: int) -> list[nn.Parameter]:
    """Stop training a timm EfficientNet's stem and its first ``stages`` stages; returns what was frozen."""
    frozen = [body.conv_stem, body.bn1, *list(body.blocks)[:stages]]
    params = [p for layer in frozen for p in layer.parameters()]
    for param in params:
        param.requires_grad_(False)
    return params


def param_groups(
    model: nn.Module, backbone: nn.Module, lr: float, backbone_lr_scale: float, weight_decay: float
) -> list[dict]:
    """AdamW/SGD groups: backbone at ``lr * backbone_lr_scale``; no weight decay on norms and biases."""
    in_backbone = {id(p) for p in backbone.parameters()}
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for param in model.parameters():
        if param.requires_grad:
            groups.setdefault((id(param) in in_backbone, param.ndim <= 1), []).append(param)
    return [
        {
            "params": params,
            "lr": lr * (backbone_lr_scale if is_backbone else 1.0),
            "weight_decay": 0.0 if no_decay else weight_decay,
        }
        for (is_backbone, no_decay), params in sorted(groups.items())
    ]


def warmup_cosine(
    optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int, min_lr_ratio: float = 0.05
):
    """timm's per-step cosine schedule with a linear warm-up; call ``step_update(step)`` after each step."""
    from timm.scheduler import CosineLRScheduler

    base = min(group["lr"] for group in optimizer.param_groups)
    return CosineLRScheduler(
        optimizer,
        t_initial=max(1, total_steps),
        lr_min=base * min_lr_ratio,
        warmup_t=warmup_steps,
        warmup_lr_init=base * 0.01,
        warmup_prefix=True,
        t_in_epochs=False,
    )


def weight_ema(model: nn.Module, decay: float = 0.999):
    """timm's ModelEmaV3 with warm-up (the average starts short and grows to ``decay``)."""
    from timm.utils import ModelEmaV3

    return ModelEmaV3(model, decay=decay, use_warmup=True)


def trainable(params: Iterable[nn.Parameter]) -> int:
    return sum(p.numel() for p in params if p.requires_grad)
