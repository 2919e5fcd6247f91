"""Session fixtures for the real pipeline on tiny generated data: data -> checkpoint -> bundle.

Each stage runs once per test session (seconds on 2 cores) and later stages build on it, so the
train, export and benchmark tests exercise the same artifacts the demo produces, only smaller.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    from train.synth import generate

    root = tmp_path_factory.mktemp("data")
    generate(root, seed=0, preset="tiny")
    return root


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_data, tmp_path_factory) -> Path:
    from train.config import ClassifyConfig
    from train.engine import fit

    out = tmp_path_factory.mktemp("train")
    config = ClassifyConfig.model_validate(
        {
            "out": str(out),
            "data": {"root": str(tiny_data / "classify"), "image_size": [64, 64], "workers": 0},
            "optim": {"epochs": 2, "warmup_epochs": 1, "batch_size": 8},
        }
    )
    fit(config)
    return out / "best.pt"


@pytest.fixture(scope="session")
def tiny_real_bundle(tiny_checkpoint, tmp_path_factory) -> Path:
    from export.build import ExportRequest, export_bundle

    out = tmp_path_factory.mktemp("bundles") / "tiny"
    # The tiny model's INT8 often misses the budget; the fix ladder (minutes) is tested on its own in
    # tests/export/test_gate_ladder.py, so the shared bundle rejects at the first miss.
    export_bundle(ExportRequest(checkpoint=tiny_checkpoint, out=out, calibration_size=20, fix_ladder=False))
    return out
