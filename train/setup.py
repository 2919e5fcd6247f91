"""Everything a run needs before its first step, built once from the task and the configuration.

Data splits, the model (fresh from the registry, or from ``init``'s checkpoint for fine-tuning),
the model interface the checkpoint will carry, the seeded and sharded training loader, the loss
and the recipe.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from edge_runtime.bundle import ModelInterface
from edge_runtime.errors import ConfigError
from train.adapt import initial_checkpoint, with_site_labels
from train.checkpoint import read_checkpoint
from train.config import RunConfig
from train.finetune import weight_ema
from train.models import BuiltModel, ModelRequest
from train.recipe import Recipe
from train.runtime import ProcessGroup
from train.sampling import EpochSampler
from train.task import LossFn, Task, TaskData

log = logging.getLogger(__name__)


@dataclass
class Setup:
    data: TaskData
    built: BuiltModel
    request: ModelRequest
    interface: ModelInterface
    sampler: EpochSampler
    loader: DataLoader
    steps: int
    loss: LossFn
    recipe: Recipe
    channels_last: bool
    ema: Any | None = None  # timm ModelEmaV3 of the model when ``optim.ema`` > 0

    @property
    def evaluated(self) -> torch.nn.Module:
        """The weights validation, test and checkpoints use: the EMA's when there is one."""
        return self.built.module if self.ema is None else self.ema.module


def prepare(task: Task, config: RunConfig, group: ProcessGroup, device: torch.device) -> Setup:
    data = with_site_labels(task, config, task.read_data(config))
    built, request = task.build(config, data)
    interface = task.interface(config, data, built)
    init = initial_checkpoint(config)
    if init is not None:
        interface = _start_from(init, config, built, interface)
    task.start_weights(config, data, built, interface)
    model = built.module.to(device)
    channels_last = config.channels_last and any(p.ndim == 4 for p in model.parameters())
    if channels_last:
        model.to(memory_format=torch.channels_last)
    train_set = task.train_set(config, data.train, interface)
    size = len(train_set)  # type: ignore[arg-type]  # map-style datasets have a length; Dataset omits it
    sampler = EpochSampler(
        size,
        seed=config.seed,
        weights=task.sample_weights(config, data),
        rank=group.rank,
        world=group.world,
    )
    batch_size = config.optim.batch_size // group.world
    workers = config.data.workers
    loader: DataLoader = DataLoader(
        train_set,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        collate_fn=task.collate,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,  # iterated every epoch
        prefetch_factor=config.data.prefetch if workers > 0 else None,
        drop_last=task.drop_last and len(sampler) > batch_size,
        generator=torch.Generator().manual_seed(config.seed),  # keeps the global RNG untouched by loaders
    )
    steps = min(len(loader), config.max_steps_per_epoch or len(loader))
    return Setup(
        data,
        built,
        request,
        interface,
        sampler,
        loader,
        steps,
        task.loss_fn(config, data, device),
        Recipe(built, config.optim, steps),
        channels_last,
        weight_ema(model, config.optim.ema) if config.optim.ema > 0 else None,
    )


def _start_from(
    init: Path, config: RunConfig, built: BuiltModel, interface: ModelInterface
) -> ModelInterface:
    """Fine-tuning: the weights and the preprocessing they were trained with come from ``init``."""
    base = read_checkpoint(init)
    if base.meta.task != config.task or base.meta.classes != interface.classes:
        raise ConfigError(
            f"init: {init} is a {base.meta.task} model of classes {base.meta.classes}; this run "
            "trains "
            f"{config.task} on {interface.classes}"
        )
    built.module.load_state_dict(base.state_dict)
    if base.meta.interface.input != interface.input or base.meta.interface.signal != interface.signal:
        log.info("init: keeping %s's preprocessing, which its weights were trained with", init)
    return interface.model_copy(
        update={"input": base.meta.interface.input, "signal": base.meta.interface.signal}
    )


def to_device(value: Any, device: torch.device) -> Any:
    """Tensors (also inside lists, tuples and dicts, as detection targets are) on ``device``."""
    if isinstance(value, torch.Tensor):
        return value.to(device, non_blocking=True)
    if isinstance(value, list | tuple):
        return type(value)(to_device(v, device) for v in value)
    if isinstance(value, dict):
        return {k: to_device(v, device) for k, v in value.items()}
    return value
