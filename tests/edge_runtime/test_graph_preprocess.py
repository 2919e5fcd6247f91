"""Preprocessing inside the OpenVINO graph gives what edge_runtime.preprocess gives, from the same spec."""

from __future__ import annotations

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

from edge_runtime.backends import BackendOptions, create_backend
from edge_runtime.backends.openvino_preprocess import embed_preprocessing
from edge_runtime.bundle import InputSpec, load_bundle
from edge_runtime.errors import BackendUnavailableError, BundleError
from edge_runtime.model import BundleModel
from edge_runtime.preprocess import preprocess, read_image, resized_batch

IMAGENET = {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)}
SPECS = [
    InputSpec(size=(160, 160), **IMAGENET),
    InputSpec(size=(192, 320), colour="bgr", layout="NHWC", **IMAGENET),
    InputSpec(size=(100, 120), resize="letterbox"),
    InputSpec(
        size=(100, 120), resize="center_crop", scale=1.0, mean=(123.7, 116.3, 103.5), std=(58.4, 57.1, 57.4)
    ),
]


def _frame(height: int = 360, width: int = 640) -> np.ndarray:
    """Gradients, a hard edge and sensor noise: every channel different, every resize step visible."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.stack([xx * 255 / width, yy * 255 / height, (xx + yy) % 256], axis=-1) + rng.normal(
        0, 20, (height, width, 3)
    )
    image[:, width // 2 :] //= 3
    return np.clip(image, 0, 255).astype(np.uint8)


def _identity(spec: InputSpec) -> ov.Model:
    """A model that returns its input: what reaches the model's first layer, laid out per ``spec``."""
    height, width = spec.size
    shape = [1, 3, height, width] if spec.layout == "NCHW" else [1, height, width, 3]
    image = ops.parameter(shape, np.float32, name="images")
    return ov.Model([ops.result(image)], [image])


def _run(model: ov.Model, batch: np.ndarray) -> np.ndarray:
    return ov.Core().compile_model(model, "CPU").create_infer_request().infer({0: batch})[0]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.resize}-{s.colour}-{s.layout}")
def test_the_graph_gets_the_numpy_tensor_from_the_resized_uint8_frame(spec):
    frames = [_frame(), _frame(480, 270)]
    graph = _run(embed_preprocessing(_identity(spec), spec), resized_batch(frames[0], spec))
    np.testing.assert_allclose(graph, preprocess(frames[0], spec), atol=1e-4)
    graph = _run(embed_preprocessing(_identity(spec), spec), resized_batch(frames[1], spec))
    np.testing.assert_allclose(graph, preprocess(frames[1], spec), atol=1e-4)


@pytest.mark.parametrize("spec", [s for s in SPECS if s.resize == "stretch"], ids=lambda s: s.layout)
def test_a_resize_in_the_graph_agrees_within_a_grey_level(spec):
    frame = _frame()
    graph = _run(embed_preprocessing(_identity(spec), spec, resize_in_graph=True), frame[None])
    one_grey_level = spec.scale / min(spec.std)
    difference = np.abs(graph - preprocess(frame, spec))
    assert difference.max() <= 1.01 * one_grey_level  # the uint8 rounding of a resized pixel
    assert difference.mean() <= 0.2 * one_grey_level


def test_a_letterbox_cannot_be_resized_in_the_graph():
    spec = SPECS[2]
    with pytest.raises(BundleError, match="only 'stretch'"):
        embed_preprocessing(_identity(spec), spec, resize_in_graph=True)


def test_the_tiny_bundle_classifies_the_same_with_either_preprocessing(tiny_bundle):
    bundle = load_bundle(tiny_bundle)
    frames = [
        np.full((48, 64, 3), bgr, np.uint8) for bgr in ((0, 0, 255), (0, 255, 0), (255, 0, 0), (200, 40, 60))
    ]
    frames.append(_frame(48, 64))
    host = BundleModel(bundle, "openvino-fp32")
    graph = BundleModel(bundle, "openvino-fp32", options=BackendOptions(preprocess="graph"))
    assert graph.graph_preprocessing and not host.graph_preprocessing
    assert graph.prepare(frames).dtype == np.uint8
    expected = np.stack([p.probabilities for p in host.classify(frames)])
    np.testing.assert_allclose(
        np.stack([p.probabilities for p in graph.classify(frames)]), expected, atol=1e-4
    )


def test_onnx_runtime_keeps_the_numpy_preprocessing(tiny_bundle):
    model = BundleModel(load_bundle(tiny_bundle), "onnx-fp32", options=BackendOptions(preprocess="graph"))
    assert not model.graph_preprocessing and model.prepare(_frame(48, 64)).dtype == np.float32
    with pytest.raises(BackendUnavailableError, match="cannot preprocess inside the model"):
        create_backend("onnxruntime", model.backend.model_path, BackendOptions(), "fp32", SPECS[0])


@pytest.mark.slow
def test_a_trained_model_agrees_on_held_out_images(tiny_real_bundle, tiny_data):
    """A real trained EfficientNet-Lite bundle, its OpenVINO artifacts, real held-out images.

    Forced to f32: in bf16 (the CPU default where AVX512-BF16 exists) the preprocessing fused into the
    first layers rounds at other points than numpy's, and probabilities move by up to about 0.01.
    INT8 quantizes the input, and OpenVINO folds the uint8 input into that quantization: values near a
    step land one step away, so probabilities move (up to 0.1 on the demo bundle, top-1 unchanged on its
    200 test images) and only a clear decision must agree.
    """
    bundle = load_bundle(tiny_real_bundle)
    paths = sorted(p for p in (tiny_data / "classify" / "test").rglob("*") if p.suffix in {".jpg", ".png"})
    images = [read_image(path) for path in paths[:40]]
    assert len(images) >= 10
    shipped = [a for a in bundle.manifest.artifacts if a.format == "openvino" and a.status != "rejected"]
    for artifact in shipped:
        forced = BackendOptions(precision_hint="f32")
        host = BundleModel(bundle, artifact.key, options=forced).classify(images)
        graph_options = BackendOptions(precision_hint="f32", preprocess="graph")
        graph = BundleModel(bundle, artifact.key, options=graph_options).classify(images)
        probabilities = [np.stack([p.probabilities for p in predictions]) for predictions in (graph, host)]
        difference = np.abs(probabilities[0] - probabilities[1])
        if artifact.precision == "int8":
            clear = [(g, h) for g, h in zip(graph, host, strict=True) if _margin(h) >= 0.2]
            assert all(g.label == h.label for g, h in clear) and difference.mean() < 0.02, artifact.key
        else:
            assert [g.label for g in graph] == [h.label for h in host], artifact.key
            assert difference.max() < 1e-3, artifact.key


def _margin(prediction) -> float:
    """How far the top class is ahead of the second."""
    top, second = np.sort(prediction.probabilities)[::-1][:2]
    return float(top - second)
