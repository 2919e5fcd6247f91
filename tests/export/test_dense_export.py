"""Detection and segmentation export: verified bundles that run in ONNX Runtime and OpenVINO through
edge_runtime, parity failures, and a planted INT8 accuracy drop that the gate must catch."""

import cv2
import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from edge_runtime.backends.base import BackendOptions
from edge_runtime.bundle import load_bundle
from edge_runtime.model import BundleModel
from edge_runtime.preprocess import preprocess, read_image
from export import formats
from export.build import ExportRequest, export_bundle
from export.errors import ParityError
from export.gate import GateBudget, judge
from export.onnx_export import check_parity
from train.evaluation import EvalReport
from train.models import ModelRequest, build_model
from train.task import get_task


def _frame(tiny_data, task):
    return read_image(min((tiny_data / task / "images" / "test").glob("*")))


def test_detector_bundle_runs_in_both_runtimes(tiny_detector_bundle, tiny_data):
    bundle = load_bundle(tiny_detector_bundle)
    manifest = bundle.manifest
    assert manifest.task == "detect" and manifest.postprocess.type == "boxes"
    assert (
        manifest.postprocess.coordinates == "input_pixels"
        and manifest.provenance["onnx_parity"]["agreement"] >= 0.95
    )
    assert {a.key for a in manifest.artifacts} == {"onnx-fp32", "openvino-fp32", "onnx-int8", "openvino-int8"}
    frame = _frame(tiny_data, "detect")
    for artifact in manifest.artifacts:
        assert (
            0.0 <= artifact.metrics["map50"] <= 1.0
            and "gate" in artifact.note
            or artifact.precision != "int8"
        )
        detections = BundleModel(bundle, artifact.key).detect(frame, min_score=0.0)[0]
        for det in detections:
            x1, y1, x2, y2 = det.box
            assert 0 <= x1 < x2 <= frame.shape[1] and 0 <= y1 < y2 <= frame.shape[0]
            assert det.label in manifest.classes and det.score >= manifest.postprocess.min_score


def test_segmenter_bundle_runs_in_both_runtimes(tiny_segmenter_bundle, tiny_data):
    bundle = load_bundle(tiny_segmenter_bundle)
    assert bundle.manifest.task == "segment" and bundle.manifest.postprocess.type == "mask"
    assert len(bundle.manifest.artifacts) == 5
    frame = _frame(tiny_data, "segment")
    for artifact in bundle.manifest.artifacts:
        assert 0.0 <= artifact.metrics["miou"] <= 1.0
        result = BundleModel(bundle, artifact.key).segment(frame)[0]
        assert result.mask.shape == frame.shape[:2]
        assert sum(result.fractions.values()) == pytest.approx(1.0)
    # ONNX Runtime and OpenVINO FP32 agree when both run in f32 (OpenVINO's CPU default is bf16 on
    # AVX512-BF16/AMX CPUs, where a random-weight segmenter's borderline pixels flip)
    f32 = BackendOptions(precision_hint="f32")
    onnx_mask, openvino_mask = (
        BundleModel(bundle, key, options=f32).segment(frame)[0].mask for key in ("onnx-fp32", "openvino-fp32")
    )
    assert (onnx_mask == openvino_mask).mean() > 0.99


def test_parity_check_fails_for_a_different_model(
    tiny_segmenter_checkpoint, tiny_segmenter_bundle, tiny_data
):
    segment = get_task("segment")
    strict = type(
        "StrictSegment", (type(segment),), {"min_agreement": 0.999}
    )()  # random weights may agree by chance
    spec = load_bundle(tiny_segmenter_bundle).manifest.input
    batch = preprocess(_frame(tiny_data, "segment"), spec)
    other = segment.export_module(
        build_model("segment", "lraspp_mobilenet_v3_large", ModelRequest(3, "none")).module
    )
    with pytest.raises(ParityError, match="differs from PyTorch"):
        check_parity(strict, other.eval(), tiny_segmenter_bundle / "model.onnx", [batch])


def _score(metric: str, value: float) -> EvalReport:
    return EvalReport(metric=metric, value=value, samples=10)


def test_gate_rejects_a_task_metric_drop_beyond_the_budget():
    result = judge(_score("map50", 0.60), _score("map50", 0.594), GateBudget(max_drop_pp=0.5), "ap50")
    assert not result.passed and "map50" in result.note and "0.60 pp" in result.note
    assert judge(_score("miou", 0.60), _score("miou", 0.597), GateBudget(max_drop_pp=0.5), "iou").passed


def _planted_drop(real_quantize):
    """The real ONNX Runtime INT8 model, with +100 added to the last class's logits: every pixel 'coal'."""

    def quantize(model_path, calibration, output, options, op_types):
        real_quantize(model_path, calibration, output, options, op_types)
        model = onnx.load(str(output))
        producer = next(n for n in model.graph.node if "logits" in n.output)
        producer.output[list(producer.output).index("logits")] = "logits_before_plant"
        bias = np.zeros((1, 3, 1, 1), np.float32)
        bias[0, 2] = 100.0
        model.graph.initializer.append(numpy_helper.from_array(bias, "planted_bias"))
        model.graph.node.append(helper.make_node("Add", ["logits_before_plant", "planted_bias"], ["logits"]))
        onnx.save(model, str(output))
        return output

    return quantize


def test_planted_int8_drop_is_rejected_and_fp32_still_ships(tiny_segmenter_checkpoint, tmp_path, monkeypatch):
    monkeypatch.setattr(formats, "quantize_onnx", _planted_drop(formats.quantize_onnx))
    bundle = export_bundle(
        ExportRequest(
            checkpoint=tiny_segmenter_checkpoint,
            out=tmp_path / "b",
            formats=("onnx-fp32", "onnx-int8"),
            calibration_size=4,
        )
    )
    artifacts = {a.key: a for a in bundle.manifest.artifacts}
    assert artifacts["onnx-int8"].metrics["miou"] < artifacts["onnx-fp32"].metrics["miou"]
    assert artifacts["onnx-int8"].status == "rejected" and "budget" in artifacts["onnx-int8"].note
    assert "percentile" in artifacts["onnx-int8"].note  # the fallback attempt ran too
    assert bundle.artifact().key == "onnx-fp32"


def test_the_daemon_pipeline_runs_a_detector_one_frame_at_a_time(tiny_detector_bundle, tiny_data):
    """Detectors are exported at batch 1: three cameras' frames go through as three requests, and
    each camera gets boxes normalised to its own frame for the rules."""
    from edge_runtime.inference import Pipeline
    from edge_runtime.live import LatestFrames
    from edge_runtime.postprocess import Detections
    from edge_runtime.rules import RuleSet
    from edge_runtime.sources import Frame
    from edge_runtime.timing import StageTimers

    image = _frame(tiny_data, "detect")
    sizes = [(image.shape[1], image.shape[0]), (320, 180), (160, 160)]
    frames = [
        Frame(camera=f"cam{i}", index=0, ts=0.0, pts_s=0.0, image=cv2.resize(image, size))
        for i, size in enumerate(sizes)
    ]
    live = LatestFrames()
    pipeline = Pipeline(
        BundleModel(load_bundle(tiny_detector_bundle), "onnx-fp32"), RuleSet([]), [], StageTimers(), live=live
    )
    pipeline.process(frames)
    assert pipeline.frames == 3
    for frame in frames:
        seen = live.get(frame.camera)
        assert isinstance(seen.prediction, Detections)
        assert all(0.0 <= v <= 1.0 for d in seen.prediction.objects for v in d.box)
