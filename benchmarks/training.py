"""The training benchmark: the default recipe against the ``seed`` recipe's plain loop.

Both run through ``train.engine.fit`` with one classification configuration that differs only in
``optim.recipe``, on the same data and machine, one after the other. Throughput is images per
second of training (validation excluded, as the engine logs it); time to target is the training
time summed until the first epoch whose validation top-1 reaches the target, or None.
"""

from __future__ import annotations

import json
from pathlib import Path

from train.config import ClassifyConfig
from train.engine import fit

RECIPES = ("default", "seed")


def recipe_figures(log_path: Path, recipe: str, target_top1: float) -> dict:
    """images/s, epochs, best val top-1 and time to target from one run's log.jsonl."""
    epochs = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    seconds = sum(e["seconds"] for e in epochs)
    images = sum(e["images_per_s"] * e["seconds"] for e in epochs)
    elapsed, to_target = 0.0, None
    for epoch in epochs:
        elapsed += epoch["seconds"]
        if epoch["val"] >= target_top1:
            to_target = round(elapsed, 1)
            break
    return {
        "recipe": recipe,
        "images_per_s": round(images / seconds, 2) if seconds else 0.0,
        "epochs": len(epochs),
        "best_top1": max((e["val"] for e in epochs), default=0.0),
        "time_to_target_s": to_target,
        "train_seconds": round(seconds, 1),
    }


def run_training_benchmark(config: ClassifyConfig, out: Path, target_top1: float) -> dict:
    """The ``training`` object of results.json: one entry per recipe."""
    recipes = []
    for recipe in RECIPES:
        run = config.model_copy(
            update={"out": out / recipe, "optim": config.optim.model_copy(update={"recipe": recipe})}
        )
        fit(run)
        recipes.append(recipe_figures(out / recipe / "log.jsonl", recipe, target_top1))
    return {
        "model": config.model.name,
        "data": str(config.data.root),
        "target_top1": target_top1,
        "recipes": recipes,
    }
