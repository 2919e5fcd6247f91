"""Signal checkpoint -> bundle: manifest carries the preprocessing, every artifact is measured and gated."""

import numpy as np
import pytest

from edge_runtime.bundle import load_bundle
from edge_runtime.model import BundleModel
from export.errors import ExportError
from export.signal import SIGNAL_FORMATS, export_signal_bundle
from train.signal.synth import SynthSettings, bearing_signal


def test_bundle_has_signal_section_and_every_measured_artifact(signal_bundle):
    bundle = load_bundle(signal_bundle)
    manifest = bundle.manifest
    assert manifest.task == "signal" and manifest.signal is not None
    assert manifest.signal.sampling_rate == 12000 and manifest.signal.window == 1024
    assert [a.key for a in manifest.artifacts] == list(SIGNAL_FORMATS)
    assert all("top1" in a.metrics for a in manifest.artifacts)
    assert manifest.provenance["onnx_parity"]["top1_agreement"] == 1.0


def test_fp32_and_int8_agree_on_most_windows(signal_bundle):
    bundle = load_bundle(signal_bundle)
    windows = bearing_signal("outer_race", 1, seed=3, settings=SynthSettings(seconds=1.0))[: 10 * 1024].reshape(10, 1024)
    fp32 = [c.index for c in BundleModel(bundle, "onnx-fp32").classify(windows)]
    int8 = [c.index for c in BundleModel(bundle, "openvino-int8").classify(windows)]
    assert np.mean(np.array(fp32) == np.array(int8)) >= 0.8


def test_refuses_a_non_signal_checkpoint(tmp_path):
    import torch

    torch.save({"task": "classify"}, tmp_path / "c.pt")
    with pytest.raises(ExportError, match="not a signal checkpoint"):
        export_signal_bundle(tmp_path / "c.pt", tmp_path / "b")
