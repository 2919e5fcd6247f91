"""The gate's decisions, on stated measurements: choose on validation, report test, gate bf16 like INT8,
and a rebuild that writes the same bytes is not an attempt.

The measurements are given (a stand-in for the runtime), so each rule is checked on its own and on
any CPU; that real runtimes measure what the gate is given is tested with real bundles elsewhere.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from export.gate import GateBudget
from export.ladder import Rung, fixes
from export.measure import Candidate, Measured
from export.options import OrtQuantOptions
from export.verdict import Gate, judge_candidate
from train.evaluation import EvalReport
from train.task import get_task

REFERENCE = {split: EvalReport(metric="top1", value=0.90, samples=100) for split in ("val", "test")}


class StatedMeasurer:
    """Answers from a table: (bytes of the file, precision hint, split) -> (top-1, precision that ran)."""

    def __init__(self, table: dict[tuple[bytes, str | None, str], tuple[float, str]]) -> None:
        self.table = table
        self.asked: list[tuple[bytes, str | None, str]] = []

    def measure(self, candidate: Candidate, split: str, hint: str | None = None) -> Measured:
        key = (candidate.path.read_bytes(), hint, split)
        self.asked.append(key)
        value, precision = self.table[key]
        return Measured(EvalReport(metric="top1", value=value, samples=100), precision)


def _gate(table: dict, rebuilt: dict[str, bytes] | None = None) -> tuple[Gate, StatedMeasurer]:
    measurer = StatedMeasurer(table)

    def rebuild(candidate: Candidate, rung: Rung) -> None:
        candidate.path.write_bytes((rebuilt or {})[rung.method])

    return Gate(get_task("classify"), measurer, GateBudget(max_drop_pp=0.5), rebuild), measurer  # type: ignore[arg-type]


def _candidate(tmp_path: Path, key: str, content: bytes) -> Candidate:
    path = tmp_path / f"{key}.bin-model"
    path.write_bytes(content)
    return Candidate(key, path)


def test_the_ladder_chooses_on_validation_and_the_manifest_reports_test(tmp_path):
    table = {
        (b"minmax", None, "val"): (0.80, "int8"),
        (b"entropy", None, "val"): (0.897, "int8"),  # passes on validation...
        (b"entropy", None, "test"): (0.896, "int8"),  # ...and is reported, and judged, on test
        (b"percentile", None, "val"): (0.95, "int8"),  # never built: the ladder stopped at entropy
    }
    gate, measurer = _gate(table, {"ort-entropy": b"entropy", "ort-percentile": b"percentile"})
    options = OrtQuantOptions()
    verdict = judge_candidate(
        gate,
        _candidate(tmp_path, "onnx-int8", b"minmax"),
        REFERENCE,
        Rung("ort-minmax", options),
        fixes(options),
    )
    assert [a.method for a in verdict.attempts] == ["ort-minmax", "ort-entropy"]
    assert verdict.passed and verdict.report.value == pytest.approx(0.896)
    assert [split for _, _, split in measurer.asked] == ["val", "val", "test"]  # test measured once, last


def test_test_data_decides_nothing_its_drop_is_reported(tmp_path):
    table = {(b"m", None, "val"): (0.90, "int8"), (b"m", None, "test"): (0.88, "int8")}
    gate, _ = _gate(table)
    candidate = _candidate(tmp_path, "onnx-int8", b"m")
    verdict = judge_candidate(gate, candidate, REFERENCE, Rung("ort-minmax", OrtQuantOptions()), [])
    assert verdict.passed and verdict.report.value == pytest.approx(0.88)  # shipped on validation...
    assert "on test: top1 88.00 against FP32 90.00" in verdict.note  # ...and its test figure said plainly


def test_a_rung_that_writes_the_same_bytes_is_noted_and_not_counted(tmp_path):
    table = {
        (b"minmax", None, "val"): (0.80, "int8"),
        (b"percentile", None, "val"): (0.80, "int8"),
        (b"percentile", None, "test"): (0.80, "int8"),
    }
    gate, _ = _gate(table, {"ort-entropy": b"minmax", "ort-percentile": b"percentile"})
    options = OrtQuantOptions()
    verdict = judge_candidate(
        gate,
        _candidate(tmp_path, "onnx-int8", b"minmax"),
        REFERENCE,
        Rung("ort-minmax", options),
        fixes(options),
    )
    assert [a.method for a in verdict.attempts] == ["ort-minmax", "ort-percentile"]
    assert "ort-entropy wrote the same model as ort-minmax (not counted)" in verdict.note


def test_bf16_is_gated_like_int8_and_f32_forced_is_the_fix_recorded_for_the_device(tmp_path):
    table = {
        (b"ir", None, "val"): (0.88, "bf16"),  # the CPU's default precision loses 2 pp
        (b"ir", "f32", "val"): (0.90, "fp32"),
        (b"ir", "f32", "test"): (0.90, "fp32"),
    }
    gate, _ = _gate(table)
    verdict = judge_candidate(
        gate, _candidate(tmp_path, "openvino-fp32", b"ir"), REFERENCE, Rung("as-built"), []
    )
    assert [a.method for a in verdict.attempts] == ["as-built", "force-f32"]
    assert verdict.passed and verdict.runtime_precision == "fp32" and verdict.precision_hint == "f32"


def test_bf16_within_budget_ships_and_records_the_precision_that_ran(tmp_path):
    table = {(b"ir", None, "val"): (0.899, "bf16"), (b"ir", None, "test"): (0.898, "bf16")}
    gate, _ = _gate(table)
    verdict = judge_candidate(
        gate, _candidate(tmp_path, "openvino-fp32", b"ir"), REFERENCE, Rung("as-built"), []
    )
    assert verdict.passed and [a.method for a in verdict.attempts] == ["as-built"]
    assert (verdict.runtime_precision, verdict.precision_hint) == ("bf16", "bf16")
