"""Export: every format is produced and measured; parity and the INT8 gate catch what is wrong."""

import json

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from edge_runtime.bundle import load_bundle
from export.__main__ import main as export_main
from export.errors import ExportError, ParityError
from export.formats import resolve_formats
from export.gate import GateBudget, judge
from export.onnx_export import check_parity
from train.checkpoint import CheckpointError, read_checkpoint
from train.evaluation import EvalReport
from train.task import get_task


def test_bundle_has_every_format_measured(tiny_real_bundle):
    bundle = load_bundle(tiny_real_bundle)
    keys = {a.key for a in bundle.manifest.artifacts}
    assert keys == {"onnx-fp32", "onnx-int8", "openvino-fp32", "openvino-fp16", "openvino-int8"}
    for artifact in bundle.manifest.artifacts:
        assert 0.0 <= artifact.metrics["top1"] <= 1.0
        assert "ran in" in artifact.note
    provenance = bundle.manifest.provenance
    assert provenance["onnx_parity"]["agreement"] == 1.0
    assert provenance["calibration_set"]["samples"] == 20
    assert (
        provenance["gate"]["reference"] == "onnx-fp32 run in f32" and provenance["gate"]["chosen_on"] == "val"
    )
    raw = json.loads((tiny_real_bundle / "manifest.json").read_text())
    assert {"schema", "name", "task", "classes", "input", "artifacts"} <= raw.keys()


def test_verify_cli_accepts_a_good_bundle(tiny_real_bundle, capsys):
    assert export_main(["verify", str(tiny_real_bundle)]) == 0
    assert "OK" in capsys.readouterr().out


def test_fp32_artifacts_agree_with_each_other(tiny_real_bundle):
    metrics = {a.key: a.metrics["top1"] for a in load_bundle(tiny_real_bundle).manifest.artifacts}
    assert metrics["onnx-fp32"] == pytest.approx(metrics["openvino-fp32"], abs=0.05)


def test_parity_failure_stops_the_export(tiny_real_bundle, tiny_checkpoint, tmp_path):
    model = onnx.load(str(tiny_real_bundle / "model.onnx"))
    weights = max(model.graph.initializer, key=lambda t: int(np.prod(t.dims)))
    broken = numpy_helper.to_array(weights) * -3.0
    weights.CopyFrom(numpy_helper.from_array(broken.astype(np.float32), weights.name))
    onnx.save(model, str(tmp_path / "broken.onnx"))
    task = get_task("classify")
    model = task.load(read_checkpoint(tiny_checkpoint))
    batch = np.random.default_rng(0).normal(size=(4, 3, 64, 64)).astype(np.float32)
    with pytest.raises(ParityError, match="differs from PyTorch"):
        check_parity(task, model, tmp_path / "broken.onnx", [batch])


def _report(top1: float, person_recall: float | None) -> EvalReport:
    person = None if person_recall is None else {"recall": person_recall}
    return EvalReport(metric="top1", value=top1, samples=100, per_class={"person": person})


def test_gate_catches_a_planted_accuracy_drop():
    budget = GateBudget(max_drop_pp=0.5, safety_classes=("person",))
    assert judge(_report(0.90, 1.0), _report(0.898, 1.0), budget, "recall").passed
    dropped = judge(_report(0.90, 1.0), _report(0.85, 1.0), budget, "recall")
    assert not dropped.passed and "5.00 pp" in dropped.note
    assert not judge(_report(0.90, 1.0), _report(0.90, 0.9), budget, "recall").passed


def test_a_safety_class_absent_from_the_split_is_not_measured_never_zero():
    result = judge(_report(0.90, None), _report(0.90, None), GateBudget(safety_classes=("person",)), "recall")
    assert not result.passed and "not measured" in result.note


def test_formats_resolve_prerequisites_and_reject_unknown():
    assert [s.key for s in resolve_formats(["openvino-int8"])] == [
        "onnx-fp32",
        "openvino-fp32",
        "openvino-int8",
    ]
    with pytest.raises(ExportError, match="choose from"):
        resolve_formats(["tflite-int8"])


def test_not_a_checkpoint_is_refused(tmp_path):
    path = tmp_path / "random.pt"
    path.write_bytes(b"\x80\x04not a checkpoint")
    with pytest.raises(CheckpointError, match="random.pt"):
        read_checkpoint(path)
