"""The recipes set up what they promise: seed trains everything with SGD 0.001/0.9; default warms
up the head alone, then trains all but the input-side ``freeze_fraction`` of the backbone."""

import math
from dataclasses import replace

import pytest
import torch

from train.config import OptimConfig
from train.models import ModelRequest, build_model
from train.recipe import Recipe, backbone_layers, cosine_with_warmup


def _recipe(**optim) -> Recipe:
    config = OptimConfig.model_validate({"epochs": 3, "warmup_epochs": 1, **optim})
    return Recipe(
        build_model("classify", "efficientnet_lite0", ModelRequest(3, "none")), config, steps_per_epoch=4
    )


def _trainable(recipe: Recipe) -> list[bool]:
    return [all(p.requires_grad for p in m.parameters(recurse=False)) for m in backbone_layers(recipe.built)]


def test_seed_recipe_is_the_classic_one():
    recipe = _recipe(recipe="seed")
    recipe.begin_epoch(0)
    assert isinstance(recipe.optimizer, torch.optim.SGD)
    group = recipe.optimizer.param_groups[0]
    assert (group["lr"], group["momentum"]) == (0.001, 0.9)
    assert sum(p.numel() for p in group["params"]) == sum(p.numel() for p in recipe.built.module.parameters())


def test_default_recipe_warms_up_the_head_then_freezes_the_input_side():
    recipe = _recipe(freeze_fraction=0.3)
    assert recipe.begin_epoch(0) and recipe.stage == "head" and not any(_trainable(recipe))
    recipe.train_mode()
    assert not recipe.built.module.training and recipe.built.head.training
    assert recipe.begin_epoch(1) and recipe.stage == "full" and not recipe.begin_epoch(2)
    trainable = _trainable(recipe)
    frozen = int(len(trainable) * 0.3)
    assert trainable == [False] * frozen + [True] * (len(trainable) - frozen)
    recipe.train_mode()
    layers = backbone_layers(recipe.built)
    assert not layers[0].training and layers[-1].training
    lrs = sorted(group["lr"] for group in recipe.optimizer.param_groups)
    assert lrs == pytest.approx([0.001 * 0.1, 0.001])  # the backbone's lr is scaled down


def test_model_without_a_new_head_trains_everything_from_the_start():
    built = build_model("classify", "efficientnet_lite0", ModelRequest(3, "none"))
    recipe = Recipe(replace(built, head=None), OptimConfig(epochs=2, warmup_epochs=1, freeze_fraction=0.0), 4)
    assert recipe.begin_epoch(0) and recipe.stage == "full"
    assert all(p.requires_grad for p in built.module.parameters())


def test_schedule_warms_up_linearly_then_follows_the_cosine_to_zero():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    schedule = cosine_with_warmup(optimizer, total=40, warmup_fraction=0.05)
    rates = []
    for _ in range(40):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    expected = [0.5, 1.0] + [0.5 * (1 + math.cos(math.pi * step / 38)) for step in range(38)]
    assert rates == pytest.approx(expected, abs=1e-9)
