"""Retraining from a deployed bundle: its checkpoint, the site's new labels, and a replay of the old data.

A bundle records the checkpoint it was exported from (``provenance.checkpoint``); ``init_from: BUNDLE``
starts there, as ``init`` would, and refuses with the checkpoint's name when it is not on this
workstation. ``site.data`` is what ``python -m edge_runtime.siteloop import`` wrote (class folders for
classification); the run trains on all of it plus a seeded, per-class ``site.replay`` share of the original
training split, so the model learns the site without forgetting the rest. Validation and test stay the
original splits: the export then reports the old test split and the site frames side by side.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edge_runtime.bundle import load_bundle
from edge_runtime.errors import ConfigError
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
    """``config`` as a retraining runs it: ``site``'s epochs, learning rate and BatchNorm in ``optim``.

    Idempotent (the scaled learning rate is recorded with ``lr_scale`` 1), so the saved configuration
    runs the same again."""
    site = config.site
    if site is None:
        return config
    optim = config.optim.model_copy(
        update={
            "epochs": site.epochs,
            "warmup_epochs": 0,
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
