"""The fix ladder: a planted accuracy drop is caught, every fix is tried in order and recorded."""

import pytest

from edge_runtime.bundle import QuantAttempt, load_bundle
from edge_runtime.measure.verify import summary
from export.build import ExportRequest, export_bundle
from export.gate import GateBudget
from export.ladder import Rung, climb, fixes
from export.options import NncfQuantOptions, OrtQuantOptions


def _export_with_impossible_budget(checkpoint, out, formats):
    """A budget of -101 pp (INT8 must beat FP32 by more than 100 points) that no attempt can meet.

    A planted drop that does not depend on how well the tiny model learned: any real budget could be
    met by chance when INT8 happens to score above FP32.
    """
    request = ExportRequest(
        checkpoint=checkpoint,
        out=out,
        formats=formats,
        calibration_size=10,
        budget=GateBudget(max_drop_pp=-101.0),
    )
    return export_bundle(request)


@pytest.fixture(scope="module")
def rejected_onnx_bundle(tiny_checkpoint, tmp_path_factory):
    return _export_with_impossible_budget(
        tiny_checkpoint, tmp_path_factory.mktemp("ladder") / "ort", ("onnx-int8",)
    )


def test_planted_drop_rejects_ort_int8_after_every_calibration(rejected_onnx_bundle):
    artifacts = {a.key: a for a in load_bundle(rejected_onnx_bundle.root).manifest.artifacts}
    int8 = artifacts["onnx-int8"]
    assert int8.status == "rejected" and artifacts["onnx-fp32"].status == "shipped"
    # A rung that writes the same bytes as an earlier one is named in the note and is not an attempt.
    same = [m for m in ("ort-entropy", "ort-percentile") if f"{m} wrote the same model" in int8.note]
    expected = [m for m in ("ort-minmax", "ort-entropy", "ort-percentile") if m not in same]
    assert [a.method for a in int8.attempts] == expected
    assert [a.options["calibration"] for a in int8.attempts] == [m.removeprefix("ort-") for m in expected]
    for attempt in int8.attempts:
        assert not attempt.passed and "below FP32" in attempt.note
        assert 0.0 <= attempt.metrics["top1"] <= 1.0


def test_rejection_is_said_plainly(rejected_onnx_bundle):
    text = summary(rejected_onnx_bundle)
    assert "INT8 REJECTED: onnx-int8" in text and "use onnx-fp32 instead" in text
    assert "tried ort-percentile" in text


def test_runtime_precision_is_a_structured_field(rejected_onnx_bundle):
    precisions = {a.key: a.runtime_precision for a in rejected_onnx_bundle.manifest.artifacts}
    assert precisions == {"onnx-fp32": "fp32", "onnx-int8": "int8"}


@pytest.mark.slow
def test_planted_drop_climbs_the_whole_nncf_ladder(tiny_checkpoint, tmp_path):
    bundle = _export_with_impossible_budget(tiny_checkpoint, tmp_path / "nncf", ("openvino-int8",))
    int8 = bundle.artifact("openvino-int8")
    assert int8.status == "rejected"
    methods = [a.method for a in int8.attempts]
    ladder = ["nncf-performance", "nncf-mixed", "nncf-full-bias-correction", "nncf-accuracy-control"]
    assert methods[0] == "nncf-performance" and set(methods) <= {*ladder, "force-f32"}
    assert [m for m in methods if m != "force-f32"] == [m for m in ladder if m in methods]
    assert (
        "force-f32" not in methods[:-1]
    )  # where the CPU chose bf16, f32 is the last fix, after every rebuild
    assert not any(a.passed for a in int8.attempts)
    assert int8.runtime_precision.startswith("int8+")
    assert "INT8 REJECTED: openvino-int8" in summary(bundle)


def _attempt(method: str, passed: bool) -> QuantAttempt:
    return QuantAttempt(method=method, passed=passed)


def test_ladder_stops_at_the_first_passing_fix():
    tried = []

    def attempt(rung: Rung) -> QuantAttempt:
        tried.append(rung.method)
        return _attempt(rung.method, passed=rung.method == "nncf-full-bias-correction")

    record = climb(_attempt("nncf-performance", False), fixes(NncfQuantOptions()), attempt)
    assert tried == ["nncf-mixed", "nncf-full-bias-correction"]
    assert [a.passed for a in record] == [False, False, True]
    assert climb(_attempt("ort-minmax", True), fixes(OrtQuantOptions()), attempt)[-1].method == "ort-minmax"


def test_ladder_skips_what_the_first_rung_already_did():
    assert [r.method for r in fixes(OrtQuantOptions(calibration="entropy"))] == ["ort-percentile"]
    mixed = NncfQuantOptions(preset="mixed", fast_bias_correction=False)
    assert [r.method for r in fixes(mixed)] == ["nncf-accuracy-control"]
