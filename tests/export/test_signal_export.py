"""Signal checkpoint -> bundle: manifest carries the preprocessing, every artifact is measured and gated."""

import numpy as np
import pytest

from edge_runtime.bundle import load_bundle
from edge_runtime.model import BundleModel
from export.build import ExportRequest, export_bundle
from export.formats import FORMATS
from train.checkpoint import CheckpointError
from train.signal.synth import SynthSettings, bearing_signal


def test_bundle_has_signal_section_and_every_measured_artifact(signal_bundle):
    bundle = load_bundle(signal_bundle)
    manifest = bundle.manifest
    assert manifest.task == "signal" and manifest.signal is not None
    assert manifest.signal.sampling_rate == 12000 and manifest.signal.window == 1024
    assert [a.key for a in manifest.artifacts] == list(
        FORMATS
    )  # the same formats and file names as every task
    assert all("top1" in a.metrics for a in manifest.artifacts)
    assert manifest.provenance["onnx_parity"]["agreement"] == 1.0


def test_fp32_and_int8_agree_on_most_windows(signal_bundle):
    bundle = load_bundle(signal_bundle)
    windows = bearing_signal("outer_race", 1, seed=3, settings=SynthSettings(seconds=1.0))[
        : 10 * 1024
    ].reshape(10, 1024)
    fp32 = [c.index for c in BundleModel(bundle, "onnx-fp32").classify(windows)]
    int8 = [c.index for c in BundleModel(bundle, "openvino-int8").classify(windows)]
    assert np.mean(np.array(fp32) == np.array(int8)) >= 0.8


def test_refuses_a_file_that_is_not_an_adit_checkpoint(tmp_path):
    import torch

    torch.save({"task": "signal"}, tmp_path / "c.pt")
    with pytest.raises(CheckpointError, match="not an adit checkpoint"):
        export_bundle(ExportRequest(checkpoint=tmp_path / "c.pt", out=tmp_path / "b"))
    assert not (tmp_path / "b").exists()
