"""The recipes set up what they promise: seed trains everything with SGD 0.001/0.9; default warms
up the head alone, then trains all but the input-side ``freeze_fraction`` of the backbone."""

import pytest
import torch

from train.config import TrainConfig
from train.models import build_model
from train.recipe import Recipe, backbone_layers


def _recipe(**optim) -> Recipe:
    config = TrainConfig.model_validate({"model": {"weights": "none"}, "optim": {"epochs": 3, "warmup_epochs": 1, **optim}})
    return Recipe(build_model("efficientnet_lite0", 3, "none"), config, steps_per_epoch=4, class_weights=None)


def _trainable(recipe: Recipe) -> list[bool]:
    return [all(p.requires_grad for p in m.parameters(recurse=False)) for m in backbone_layers(recipe.built)]


def test_seed_recipe_is_the_classic_one():
    recipe = _recipe(recipe="seed")
    recipe.begin_epoch(0)
    assert isinstance(recipe.optimizer, torch.optim.SGD) and recipe.loss.label_smoothing == 0.0
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
