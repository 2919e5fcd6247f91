"""The training benchmark's figures come from the engine's own log: images/s and time to target."""

import json
from pathlib import Path

import pytest

from benchmarks.training import recipe_figures


def test_time_to_target_sums_training_time_until_the_first_epoch_at_target(tmp_path):
    log = tmp_path / "log.jsonl"
    epochs = [
        {"val": 0.5, "images_per_s": 10.0, "seconds": 10.0},
        {"val": 0.92, "images_per_s": 5.0, "seconds": 20.0},
        {"val": 0.95, "images_per_s": 5.0, "seconds": 20.0},
    ]
    log.write_text("".join(json.dumps(e) + "\n" for e in epochs))
    figures = recipe_figures(log, "seed", target_top1=0.9)
    assert figures["time_to_target_s"] == pytest.approx(30.0)
    assert figures["images_per_s"] == pytest.approx(
        (100 + 100 + 100) / 50
    )  # images over seconds, not a mean of rates
    assert figures["best_top1"] == 0.95 and figures["epochs"] == 3
    assert recipe_figures(log, "seed", target_top1=0.99)["time_to_target_s"] is None


@pytest.mark.slow
def test_both_recipes_train_the_same_model_on_the_same_data(tiny_data, tmp_path):
    from benchmarks.__main__ import main as bench_main

    config = Path(__file__).parents[2] / "configs" / "train-demo.yaml"
    args = [
        "train",
        "--config",
        str(config),
        "--out",
        str(tmp_path),
        "--target",
        "0.5",
        f"data.root={tiny_data / 'classify'}",
        "data.image_size=[64,64]",
        "data.workers=0",
        "optim.epochs=2",
        "optim.batch_size=8",
    ]
    assert bench_main(args) == 0
    training = json.loads((tmp_path / "training.json").read_text())
    assert [r["recipe"] for r in training["recipes"]] == ["default", "seed"]
    assert all(r["images_per_s"] > 0 and r["epochs"] == 2 for r in training["recipes"])
    assert "recipe: seed" in (tmp_path / "seed" / "config.yaml").read_text()
