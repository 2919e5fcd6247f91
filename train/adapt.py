"""Retraining from a deployed bundle: its checkpoint, the site's new labels, and a replay of the old data.

A bundle records the checkpoint it was exported from (``provenance.checkpoint``); ``init_from: BUNDLE``
starts there, as ``init`` would, and refuses with the checkpoint's name when it is not on this
workstation. ``site.data`` is what ``python -m edge_runtime.siteloop import`` wrote (class folders for
classification); the run trains on all of it plus a seeded, per-class ``site.replay`` share of the original
training split, so the model learns the site without forgetting the rest. Validation and test stay the
original splits: the export then reports the old test split and the site frames side by side. So the run
keeps its last epoch, not the one best on validation: with only the original split to judge by, the best
epoch is the one that learnt the site least (random site labels kept epoch 1 of 8; results/site-shift.md).
``site.interpolate`` below 1 then averages the saved weights with the starting checkpoint's (WiSE-FT).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from edge_runtime.bundle import load_bundle
from edge_runtime.errors import ConfigError
from train.checkpoint import Interpolation, read_checkpoint, save_checkpoint
from train.config import RunConfig
from train.data import fingerprint
from train.task import Task, TaskData


def initial_checkpoint(config: RunConfig) -> Path | None:
    """The checkpoint a run starts from: ``init``, or the one ``init_from``'s bundle was exported from."""
    if config.init_from is None:
        return config.init
    manifest = load_bundle(config.init_from, verify="none").manifest
    recorded = manifest.provenance.get("checkpoint")
    if not isinstance(recorded, str):
        raise ConfigError(f"init_from: {config.init_from} does not record the checkpoint it came from")
    checkpoint = Path(recorded)
    if not checkpoint.is_file():
        raise ConfigError(
            f"init_from: {config.init_from} was exported from the checkpoint {checkpoint}, which is not "
            "here; copy it to that path, or start from a copy with init=<checkpoint>"
        )
    return checkpoint


def retraining(config: RunConfig) -> RunConfig:
    """``config`` as a retraining runs it: ``site``'s epochs, learning rate and BatchNorm in ``optim``, and
    the last epoch kept (``optim.keep``; the module's docstring says why).

    Idempotent (the scaled learning rate is recorded with ``lr_scale`` 1), so the saved configuration
    runs the same again."""
    site = config.site
    if site is None:
        return config
    optim = config.optim.model_copy(
        update={
            "epochs": site.epochs,
            "warmup_epochs": 0,
            "keep": "last",
            "lr": config.optim.lr * site.lr_scale,
            "freeze_bn": site.freeze_bn or config.optim.freeze_bn,
            "precise_bn": config.optim.precise_bn and not site.freeze_bn,
        }
    )
    return config.model_copy(update={"optim": optim, "site": site.model_copy(update={"lr_scale": 1.0})})


def replay_sample(samples: Sequence[Any], strata: Sequence[int], share: float, seed: int) -> list[Any]:
    """``share`` of each stratum's samples (a classifier's: its classes; at least one of each), seeded."""
    by_class: dict[int, list[Any]] = defaultdict(list)
    for sample, stratum in zip(samples, strata, strict=True):
        by_class[stratum].append(sample)
    rng = random.Random(seed)
    kept: list[Any] = []
    for label in sorted(by_class):
        group = by_class[label]
        if share > 0:
            kept += rng.sample(group, max(1, round(share * len(group))))
    return kept


def with_site_labels(task: Task, config: RunConfig, data: TaskData) -> TaskData:
    """The training split replaced by the site's labels plus the replayed share of the original one."""
    if config.site is None:
        return data
    new = task.read_labelled(config.site.data, data.classes)
    old = replay_sample(data.train, [task.stratum(s) for s in data.train], config.site.replay, config.seed)
    entries = [data.fingerprint, str(config.site.replay), *(f"{task.stratum(s)}:{s}" for s in new)]
    return TaskData(
        data.classes,
        [*new, *old],
        data.val,
        data.test,
        fingerprint(entries),
        f"{data.source} (replay {config.site.replay:g}) + site labels {config.site.data}",
    )


def interpolate(
    start: Mapping[str, torch.Tensor], trained: Mapping[str, torch.Tensor], weight: float
) -> dict[str, torch.Tensor]:
    """WiSE-FT (Wortsman et al. 2022): ``(1 - weight) * start + weight * trained`` for every floating-point
    parameter and buffer; integer buffers (BatchNorm's ``num_batches_tracked``) are the trained model's.

    Why: a retraining on a few site labels moves the weights far enough to forget the original data (the
    site's detector lost 2.0 points of its test split, docs/results/site-shift.md), and a lower learning
    rate gave up the site gain with it; a point between the deployed and the retrained weights keeps
    much of the gain and loses less, at no inference cost."""
    if start.keys() != trained.keys() or any(start[k].shape != trained[k].shape for k in trained):
        raise ConfigError(
            "site.interpolate: the retrained weights do not match the starting checkpoint's names and shapes"
        )
    return {
        key: (1 - weight) * start[key].to(value) + weight * value if value.is_floating_point() else value
        for key, value in trained.items()
    }


def average_with_start(
    config: RunConfig, measure: Callable[[dict[str, torch.Tensor]], dict[str, float]]
) -> dict[str, float] | None:
    """After a run with ``site.interpolate`` below 1: its last epoch's weights interpolated with the starting
    checkpoint's, measured once by ``measure`` (validation figures) and written to ``last.pt`` (its resume
    state kept) and ``best.pt`` (a retraining keeps its last epoch, so both held the same weights), with the
    ``interpolated`` record; those figures (None when there is nothing to average)."""
    if config.site is None or config.site.interpolate == 1:
        return None
    start = initial_checkpoint(config)
    if start is None:  # cannot happen: the configuration refuses interpolate below 1 without a start
        raise ConfigError("site.interpolate below 1 averages with the starting model: set init_from")
    record = Interpolation(start=str(start), weight=config.site.interpolate)
    last = read_checkpoint(config.out / "last.pt")
    averaged = interpolate(read_checkpoint(start).state_dict, last.state_dict, record.weight)
    figures = measure(averaged)
    meta = last.meta.model_copy(update={"metrics": figures, "interpolated": record})
    save_checkpoint(config.out / "last.pt", meta, averaged, last.resume)
    save_checkpoint(config.out / "best.pt", meta, averaged)
    return figures
