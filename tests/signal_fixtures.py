"""Session fixtures of the signal task: a tiny cross-load run on generated signals, and its bundle."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def signal_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A 1-D CNN trained (about 20 s) on synthetic 0 HP signals and fine-tuned with 0 and 5 shots at 1 HP."""
    from train.signal.config import SignalTrainConfig
    from train.signal.engine import fit_signal

    out = tmp_path_factory.mktemp("signal-run")
    config = SignalTrainConfig.model_validate({
        "features": {"window": 1024, "hop": 512, "representation": "waveform"},
        "model": {"name": "signal_cnn1d", "weights": "none"},
        "optim": {"epochs": 8, "finetune_steps": 10},  # enough to tell normal from faulty
        "shots": [0, 5],
        "out": str(out),
    })
    return out, fit_signal(config)


@pytest.fixture(scope="session")
def signal_bundle(signal_run: tuple[Path, dict]) -> Path:
    from export.gate import GateBudget
    from export.signal import export_signal_bundle

    out, _ = signal_run
    # a budget of 100 pp: these tests check the plumbing, not the quality of a one-epoch model
    return export_signal_bundle(out / "target_k5.pt", out / "bundle", GateBudget(max_top1_drop_pp=100.0)).root
