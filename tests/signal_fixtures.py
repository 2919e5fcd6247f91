"""Session fixtures of the signal task: a tiny cross-load run on generated signals, and its bundle."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def signal_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1-D CNN trained (about 20 s) on synthetic 0 HP signals, then fine-tuned with 0 and 5 shots at 1 HP,
    all through ``python -m train fit``: the transfer runs are the signal task's follow-ups."""
    from train.__main__ import main

    out = tmp_path_factory.mktemp("signal-run")
    features = ["features.window=1024", "features.hop=512", "features.representation=waveform"]
    model = ["model.name=signal_cnn1d", "model.weights=none", "optim.epochs=8"]  # tells normal from faulty
    args = ["task=signal", f"out={out}", *features, *model, "transfer.shots=[0,5]", "transfer.steps=10"]
    assert main(["fit", *args]) == 0
    return out


@pytest.fixture(scope="session")
def signal_bundle(signal_run: Path) -> Path:
    from export.build import ExportRequest, export_bundle
    from export.gate import Floor, GateBudget

    # a budget of 100 pp: these tests check the plumbing, not the quality of a short run
    checkpoint = signal_run / "target_k5" / "best.pt"
    budget, floor = GateBudget(max_drop_pp=100.0), Floor(accept_below=True)
    request = ExportRequest(checkpoint=checkpoint, out=signal_run / "bundle", budget=budget, floor=floor)
    return export_bundle(request).root


@pytest.fixture(scope="session")
def speed_signal_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shaft-speed normalised model (hertz spectrum + envelope orders), trained on loads 0 and 1
    together on generated signals, through ``python -m train fit``."""
    from train.__main__ import main

    out = tmp_path_factory.mktemp("speed-signal-run")
    features = [
        "features.window=1024", "features.hop=512", "features.representation=spectrum_envelope",
        "features.orders=[0.5,30]", "features.bins=128",
    ]  # fmt: skip
    # one epoch: these tests check the plumbing of the rpm and of feedback, not the model's quality
    model = ["model.name=signal_spectrum_cnn", "model.weights=none", "optim.epochs=1"]
    assert main(["fit", "task=signal", f"out={out}", "data.loads=[0,1]", *features, *model]) == 0
    return out


@pytest.fixture(scope="session")
def speed_signal_bundle(speed_signal_run: Path) -> Path:
    from export.build import ExportRequest, export_bundle
    from export.gate import Floor, GateBudget

    budget, floor = GateBudget(max_drop_pp=100.0), Floor(accept_below=True)
    request = ExportRequest(
        checkpoint=speed_signal_run / "best.pt", out=speed_signal_run / "bundle", formats=("onnx-fp32",),
        budget=budget, floor=floor,
    )  # fmt: skip
    return export_bundle(request).root
