"""Every registered backend that can run an artifact of the tiny bundle gives the same answer."""

from __future__ import annotations

import numpy as np
import pytest

from edge_runtime.backends import BackendOptions, list_backends
from edge_runtime.bundle import load_bundle
from edge_runtime.model import BundleModel

# (artifact, backend): every backend on every format it runs. A new backend must be added here.
PAIRS = [("onnx-fp32", "onnxruntime"), ("onnx-fp32", "openvino"), ("openvino-fp32", "openvino")]
# BGR frames and the class each must get; the last is blue-dominant rather than pure.
COLOURS = [("red", (0, 0, 255)), ("green", (0, 255, 0)), ("blue", (255, 0, 0)), ("blue", (200, 40, 60))]


def test_the_pairs_cover_every_registered_backend():
    assert sorted({backend for _, backend in PAIRS}) == list_backends()


def test_each_artifact_on_each_capable_backend_classifies_by_dominant_colour(tiny_bundle):
    bundle = load_bundle(tiny_bundle)
    labels = [label for label, _ in COLOURS]
    frames = [np.full((48, 64, 3), bgr, np.uint8) for _, bgr in COLOURS]
    results = {}
    for key, backend in PAIRS:
        predictions = BundleModel(bundle, key, backend=backend).classify(frames)
        assert [p.label for p in predictions] == labels, (key, backend)
        results[key, backend] = np.stack([p.probabilities for p in predictions])
    reference = next(iter(results.values()))
    for pair, probabilities in results.items():
        np.testing.assert_allclose(probabilities, reference, atol=1e-4, err_msg=str(pair))


def test_runtime_precision_is_reported(tiny_bundle):
    bundle = load_bundle(tiny_bundle)
    assert BundleModel(bundle, "onnx-fp32").runtime_precision == "fp32"
    assert BundleModel(bundle, "openvino-fp32").runtime_precision in {"fp32", "bf16", "fp16"}


@pytest.mark.parametrize("key", ["onnx-fp32", "openvino-fp32"])
def test_grey_is_uncertain(tiny_bundle, key):
    grey = np.full((48, 64, 3), 90, np.uint8)
    (prediction,) = BundleModel(load_bundle(tiny_bundle), key).classify([grey])
    assert prediction.score == pytest.approx(1 / 3, abs=1e-3)


def test_openvino_throughput_mode_runs_each_frame_as_its_own_request_in_order(tiny_bundle):
    """Many cameras: the async infer-request queue gives what one synchronous batch gives, frame by frame."""
    bundle = load_bundle(tiny_bundle)
    frames = [
        np.full((48, 64, 3), bgr, np.uint8) for _, bgr in COLOURS * 3
    ]  # 12 frames, more than the streams
    latency = BundleModel(bundle, "openvino-fp32")
    throughput = BundleModel(bundle, "openvino-fp32", options=BackendOptions(mode="throughput"))
    assert throughput.backend.queue is not None
    expected = np.stack([p.probabilities for p in latency.classify(frames)])
    got = throughput.classify(frames)
    assert [p.label for p in got] == [label for label, _ in COLOURS * 3]
    np.testing.assert_allclose(np.stack([p.probabilities for p in got]), expected, atol=1e-4)
