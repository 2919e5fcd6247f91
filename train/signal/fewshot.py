"""The few-shot step's recipe: a fixed number of steps at the source's learning rate, the last weights kept.

One recipe for the transfer follow-ups (``transfer``: k labelled windows per class of another load) and
for the site's feedback (``data.feedback``): both set ``few_shot``, and ``Signal.run_config`` turns it
into the run's ``optim`` here. Why a fixed schedule and the last weights: a few-shot step's labels are
its training windows; choosing its epoch by a fully labelled validation split of the new load (what the
engine does by default) uses far more than k labels per class, and on CWRU that split is already at
100 % after one or two steps, so the best epoch was the earliest and the step barely trained (issue 17:
99.3 % at 5 shots). The new load's spectra also move the BatchNorm statistics the source run measured:
AdaBN re-estimates them on the new load's training windows (no label used) and the step keeps them.
Steps, learning rate and AdaBN were chosen on the new load's validation windows, never its test windows
(docs/results/vibration-loads.md lists every variant run).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from train.signal.config import FewShotConfig, SignalOptimConfig


def adapt_batchnorm(module: nn.Module, inputs: torch.Tensor) -> None:
    """AdaBN (Li et al. 2016; WDCNN's cross-load CWRU transfer, Zhang et al. 2017): every BatchNorm's
    running statistics replaced by those of ``inputs``, the new load's windows, in one batch."""
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average: exactly the batch's statistics
    was_training = module.training
    module.train()
    with torch.no_grad():
        module(inputs)
    module.train(was_training)
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum


def few_shot_optim(optim: SignalOptimConfig, few_shot: FewShotConfig, windows: int) -> SignalOptimConfig:
    """``optim`` for ``few_shot.steps`` steps over ``windows`` training windows (0 windows: no step)."""
    steps_per_epoch = max(1, math.ceil(windows / optim.batch_size))
    epochs = math.ceil(few_shot.steps / steps_per_epoch) if windows else 0
    return optim.model_copy(
        update={
            "epochs": epochs, "lr": few_shot.lr, "patience": max(epochs, 1), "keep": "last",
            "freeze_bn": few_shot.adabn, "precise_bn": optim.precise_bn and not few_shot.adabn,
        }
    )  # fmt: skip
