"""Export: every format is produced and measured; parity and the INT8 gate catch what is wrong."""

import json

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from edge_runtime.bundle import load_bundle
from export.__main__ import main as export_main
from export.build import apply_gate, resolve_formats
from export.checkpoint import CheckpointError, load_checkpoint
from export.errors import ExportError, ParityError
from export.gate import GateBudget, judge
from export.onnx_export import check_parity


def test_bundle_has_every_format_measured(tiny_real_bundle):
    bundle = load_bundle(tiny_real_bundle)
    keys = {a.key for a in bundle.manifest.artifacts}
    assert keys == {"onnx-fp32", "onnx-int8", "openvino-fp32", "openvino-fp16", "openvino-int8"}
    for artifact in bundle.manifest.artifacts:
        assert 0.0 <= artifact.metrics["top1"] <= 1.0
        assert "ran in" in artifact.note
    provenance = bundle.manifest.provenance
    assert provenance["onnx_parity"]["top1_agreement"] == 1.0
    assert provenance["calibration_set"]["images"] == 20
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
    checkpoint = load_checkpoint(tiny_checkpoint)
    batch = np.random.default_rng(0).normal(size=(4, 3, 64, 64)).astype(np.float32)
    with pytest.raises(ParityError, match="differs from PyTorch"):
        check_parity(checkpoint.model, tmp_path / "broken.onnx", batch)


def _report(top1: float, person_recall: float) -> dict:
    return {"top1": top1, "samples": 100, "per_class": {"person": {"recall": person_recall}}}


def test_gate_catches_a_planted_accuracy_drop():
    budget = GateBudget(max_top1_drop_pp=0.5, safety_classes=("person",))
    assert judge(_report(0.90, 1.0), _report(0.898, 1.0), budget).passed
    dropped = judge(_report(0.90, 1.0), _report(0.85, 1.0), budget)
    assert not dropped.passed and "5.00 pp" in dropped.note
    assert not judge(_report(0.90, 1.0), _report(0.90, 0.9), budget).passed


def test_rejected_int8_is_marked_in_the_manifest(tiny_real_bundle):
    manifest = load_bundle(tiny_real_bundle).manifest
    measured = {a.key: (_report(0.9, 1.0), "fp32") for a in manifest.artifacts}
    measured["openvino-int8"] = (_report(0.7, 1.0), "int8+fp32")
    gated = {a.key: a for a in apply_gate(manifest, measured, GateBudget()).artifacts}
    assert gated["openvino-int8"].status == "rejected"
    assert "20.00 pp" in gated["openvino-int8"].note
    assert gated["onnx-int8"].status == "shipped"


def test_formats_resolve_prerequisites_and_reject_unknown():
    assert [s.key for s in resolve_formats(["openvino-int8"])] == ["onnx-fp32", "openvino-fp32", "openvino-int8"]
    with pytest.raises(ExportError, match="choose from"):
        resolve_formats(["tflite-int8"])


def test_not_a_checkpoint_is_refused(tmp_path):
    path = tmp_path / "random.pt"
    path.write_bytes(b"\x80\x04not a checkpoint")
    with pytest.raises(CheckpointError, match="random.pt"):
        load_checkpoint(path)
