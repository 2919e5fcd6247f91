"""Fine-tuning that protects pretrained features: parameter groups with a lower backbone learning rate
(and no weight decay on norms and biases), and a weight EMA.

Measured on the PPE photos (issue 14): FCOS on a Lite0 pyramid trained with AdamW 1e-3 on every
layer and the backbone's BatchNorm in training mode reached mAP@0.5 0.082 from ImageNet weights and
0.196 from scratch: small detection batches re-estimate BatchNorm statistics badly and a full
learning rate rewrites the first layers before the new head has learned anything. The recipe
(``train.recipe``) freezes BatchNorm and the first stages (``optim.freeze_bn``,
``optim.freeze_stages``) and composes these pieces; the engine keeps the EMA.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from torch import nn


def param_groups(
    params: Iterable[nn.Parameter],
    head: nn.Module | None,
    lr: float,
    backbone_lr_scale: float,
    weight_decay: float,
    norm_decay: bool = True,
) -> list[dict[str, Any]]:
    """Optimiser groups: the new ``head`` at ``lr``, the pretrained rest at ``lr * backbone_lr_scale``
    (everything at ``lr`` when there is no head); without ``norm_decay``, 1-d parameters (norms,
    biases) get no weight decay."""
    head_ids = None if head is None else {id(p) for p in head.parameters()}
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for param in params:
        in_backbone = head_ids is not None and id(param) not in head_ids
        groups.setdefault((in_backbone, not norm_decay and param.ndim <= 1), []).append(param)
    return [
        {
            "params": group,
            "lr": lr * (backbone_lr_scale if in_backbone else 1.0),
            "weight_decay": 0.0 if no_decay else weight_decay,
        }
        for (in_backbone, no_decay), group in sorted(groups.items())
    ]


def weight_ema(model: nn.Module, decay: float):
    """timm's ModelEmaV3 with warm-up (the average starts short and grows to ``decay``)."""
    from timm.utils import ModelEmaV3

    return ModelEmaV3(model, decay=decay, use_warmup=True)
