"""Seeded runs repeat exactly, and a run interrupted after epoch 1 resumes where it stopped."""

import itertools
import json
from pathlib import Path

import pytest
import torch
from train_tiny_data import write_class_folders

from train.__main__ import main as train_main
from train.checkpoint import read_checkpoint
from train.config import ClassifyConfig
from train.engine import EpochResult, fit


@pytest.fixture(scope="module")
def discs(tmp_path_factory) -> Path:
    return write_class_folders(tmp_path_factory.mktemp("discs"), {"train": 16, "val": 6, "test": 6})


def _config(data: Path, out: Path, **extra) -> ClassifyConfig:
    """warmup_epochs=0: all epochs share one AdamW, so its restored state matters after resume."""
    return ClassifyConfig.model_validate(
        {
            "out": str(out),
            "data": {"root": str(data), "image_size": [32, 32], "workers": 0},
            "model": {"weights": "none"},
            "optim": {"epochs": 3, "warmup_epochs": 0, "batch_size": 8, "lr": 0.01},
            **extra,
        }
    )


@pytest.fixture(scope="module")
def uninterrupted(discs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("whole")
    fit(_config(discs, out))
    return out


def _log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


class Interrupted(Exception):
    pass


def _stop_after_first(result: EpochResult) -> None:
    if result.epoch == 1:
        raise Interrupted


def test_same_seed_gives_identical_metrics(discs, uninterrupted, tmp_path):
    again = tmp_path / "again"
    fit(_config(discs, again))
    assert [e["train_loss"] for e in _log(again)] == [e["train_loss"] for e in _log(uninterrupted)]
    first, second = (json.loads((d / "metrics.json").read_text()) for d in (uninterrupted, again))
    assert first["test"] == second["test"] and first["val_top1"] == second["val_top1"]


def test_resume_continues_at_epoch_2_and_matches_uninterrupted(discs, uninterrupted, tmp_path):
    out = tmp_path / "interrupted"
    with pytest.raises(Interrupted):
        fit(_config(discs, out), on_epoch_end=_stop_after_first)
    assert [e["epoch"] for e in _log(out)] == [1]
    assert (
        train_main(
            [
                "fit",
                "--resume",
                f"out={out}",
                f"data.root={discs}",
                "data.image_size=[32,32]",
                "data.workers=0",
                "model.weights=none",
                "optim.epochs=3",
                "optim.warmup_epochs=0",
                "optim.batch_size=8",
                "optim.lr=0.01",
            ]
        )
        == 0
    )
    assert [e["epoch"] for e in _log(out)] == [1, 2, 3]
    resumed = read_checkpoint(out / "last.pt").state_dict
    whole = read_checkpoint(uninterrupted / "last.pt").state_dict
    for key, tensor in whole.items():
        torch.testing.assert_close(resumed[key], tensor, rtol=1e-4, atol=1e-5, msg=key)
    assert [e["train_loss"] for e in _log(out)] == pytest.approx(
        [e["train_loss"] for e in _log(uninterrupted)], rel=1e-4
    )


def test_resume_without_last_checkpoint_is_a_clear_error(discs, tmp_path, capsys):
    assert (
        train_main(
            ["fit", "--resume", f"out={tmp_path / 'fresh'}", f"data.root={discs}", "model.weights=none"]
        )
        == 2
    )
    assert "last.pt" in capsys.readouterr().err


def test_ema_weights_are_checkpointed_and_a_resumed_ema_run_matches(discs, tmp_path):
    """With optim.ema the checkpoints hold the averaged weights (what export ships) and last.pt also the
    trained ones, so a resumed run continues both."""
    ema = {"epochs": 3, "warmup_epochs": 0, "batch_size": 8, "lr": 0.01, "ema": 0.9}
    whole = tmp_path / "whole"
    fit(_config(discs, whole, optim=ema))
    last = read_checkpoint(whole / "last.pt")
    trained = last.resume["model"]
    assert any(not torch.equal(trained[k], v) for k, v in last.state_dict.items() if v.is_floating_point())
    out = tmp_path / "interrupted"
    with pytest.raises(Interrupted):
        fit(_config(discs, out, optim=ema), on_epoch_end=_stop_after_first)
    fit(_config(discs, out, optim=ema, resume=True))
    resumed = read_checkpoint(out / "last.pt").state_dict
    for key, tensor in last.state_dict.items():
        torch.testing.assert_close(resumed[key], tensor, rtol=1e-4, atol=1e-5, msg=key)


def test_max_minutes_ends_training_at_the_budget_with_a_checkpoint(discs, tmp_path):
    """A clock that advances 10 s per reading: a 30 s budget ends the run inside the first epoch."""
    ticks = itertools.count(step=10.0)
    out = tmp_path / "budget"
    optim = {"epochs": 3, "warmup_epochs": 0, "batch_size": 4, "lr": 0.01, "max_minutes": 0.5}
    metrics = fit(_config(discs, out, optim=optim), clock=lambda: next(ticks))
    assert metrics["epochs_run"] == 1 and (out / "best.pt").is_file()
    first = _log(out)[0]
    assert round(first["images_per_s"] * first["seconds"]) == 8  # two of the epoch's four steps ran
