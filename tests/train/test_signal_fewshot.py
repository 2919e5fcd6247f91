"""The few-shot step's recipe: a fixed schedule whose last weights are kept, the same for the transfer
follow-ups and for the site's feedback; and that it adapts a model to a shaft speed it never saw."""

import json

import pytest
import torch
from pydantic import ValidationError

from train.__main__ import main as train
from train.checkpoint import read_checkpoint
from train.signal.config import FewShotConfig, SignalOptimConfig, SignalTrainConfig
from train.signal.fewshot import few_shot_optim
from train.signal.synth import RPM_BY_LOAD
from train.tasks.signal import Signal, _Features


def test_the_schedule_is_steps_not_epochs_and_keeps_the_last_weights():
    optim = SignalOptimConfig(batch_size=64, epochs=10, lr=0.5, patience=2)
    tuned = few_shot_optim(optim, FewShotConfig(steps=100, lr=1e-3), windows=95)  # 2 batches an epoch
    assert (tuned.epochs, tuned.lr, tuned.keep, tuned.patience) == (50, 1e-3, "last", 50)
    assert few_shot_optim(optim, FewShotConfig(steps=7), windows=64).epochs == 7
    assert few_shot_optim(optim, FewShotConfig(steps=7), windows=0).epochs == 0  # nothing to learn from


def _few_shot_config(**update) -> SignalTrainConfig:
    features = {"window": 1024, "hop": 512, "representation": "spectrum_envelope", "orders": (0.5, 30.0)}
    data = {"loads": [1], "shots": 5, "replay_loads": [0]}
    return SignalTrainConfig.model_validate({"data": data, "features": features, **update})


def test_run_config_applies_the_few_shot_recipe_once():
    config = _few_shot_config(few_shot={"steps": 40, "lr": 2e-3}, optim={"batch_size": 16})
    ran = Signal().run_config(config)
    # 5 labelled 1 HP windows per class + 5 replayed 0 HP ones, 4 classes: 40 windows, 3 batches of 16
    assert (ran.optim.epochs, ran.optim.lr, ran.optim.keep) == (14, 2e-3, "last")
    assert Signal().run_config(ran) == ran  # the saved configuration runs the same again
    plain = _few_shot_config()
    assert Signal().run_config(plain) == plain
    with pytest.raises(ValidationError, match="few_shot needs data.shots"):
        SignalTrainConfig.model_validate({"few_shot": {}})


@pytest.mark.slow  # about 40 s of training on a free core
def test_the_few_shot_step_adapts_to_an_unseen_speed(tmp_path, monkeypatch):
    """Trained at 1797 rpm, tuned and tested at 1440 rpm (20 % slower: every line of the hertz channel has
    moved): the step trains its full schedule, keeps its last weights, and they classify the new speed."""
    monkeypatch.setitem(RPM_BY_LOAD, 3, 1440.0)
    out = tmp_path / "run"
    features = ["features.window=1024", "features.hop=512", "features.representation=spectrum_envelope",
                "features.orders=[0.5,30]", "features.bins=128"]  # fmt: skip
    model = ["model.name=signal_spectrum_cnn", "model.weights=none", "optim.epochs=6"]
    transfer = ["transfer.load=3", "transfer.shots=[0,5]"]
    assert train(["fit", "task=signal", f"out={out}", *features, *model, *transfer]) == 0
    k0, k5 = (json.loads((out / f"target_k{k}" / "metrics.json").read_text()) for k in (0, 5))
    tuned = read_checkpoint(out / "target_k5" / "best.pt")
    assert tuned.meta.config["optim"]["keep"] == "last" and tuned.meta.config["few_shot"] is not None
    assert k5["best_epoch"] == k5["epochs_run"] == tuned.meta.epoch == tuned.meta.config["optim"]["epochs"]
    assert k5["test"]["value"] >= 0.95, (k0["test"]["value"], k5["test"]["value"])


def test_adabn_takes_the_statistics_of_the_new_load_windows_only():
    config = _few_shot_config(few_shot={}, model={"name": "signal_spectrum_cnn", "weights": "none"})
    task = Signal()
    data = task.read_data(config)
    built, _ = task.build(config, data)
    interface = task.interface(config, data, built)
    assert 0 < data.new_windows < len(data.train)  # 5 of each class at 1 HP, then the replayed 0 HP ones
    task.start_weights(config, data, built, interface)
    first_norm = built.module[0][1]
    new = _Features(data.train[: data.new_windows], interface.signal).inputs
    every = _Features(data.train, interface.signal).inputs
    with torch.no_grad():  # BatchNorm's running variance is the unbiased one
        expected, mixed = (built.module[0][0](x).transpose(0, 1).flatten(1).var(dim=1) for x in (new, every))
    assert torch.allclose(first_norm.running_var, expected, rtol=1e-3)
    assert not torch.allclose(first_norm.running_var, mixed, rtol=1e-2)
