"""The absolute floor: an FP32 model below its task's floor ships nothing unless explicitly overridden."""

import json
from pathlib import Path

import pytest

from export.__main__ import main as export_main
from export.gate import Floor, check_floor
from train.data import Sample
from train.task import get_task
from train.tasks.detect import Detect


def _build(checkpoint, out, *extra):
    arguments = ["build", "--checkpoint", str(checkpoint), "--out", str(out)]
    formats = ["--formats", "onnx-fp32", "onnx-int8", "--no-fix-ladder", "--calibration-size", "4"]
    return export_main([*arguments, *formats, *extra])


def test_an_undertrained_detector_is_refused_and_ships_only_by_override(
    tiny_detector_checkpoint, tmp_path, capsys
):
    """Two epochs of a detector from random weights on eight frames: far below mAP@0.5 0.30."""
    assert _build(tiny_detector_checkpoint, tmp_path / "refused") == 1
    printed = capsys.readouterr().out
    assert "NOT FIT TO DEPLOY" in printed and "--accept-below-floor" in printed
    manifest = json.loads((tmp_path / "refused" / "manifest.json").read_text())
    floor = manifest["provenance"]["gate"]["floor"]
    assert floor["floor"] == pytest.approx(0.30) and floor["value"] < 0.30
    assert not floor["passed"] and not floor["override"]
    assert {a["status"] for a in manifest["artifacts"]} == {"rejected"}
    assert all("not fit to deploy" in a["note"] for a in manifest["artifacts"])

    assert _build(tiny_detector_checkpoint, tmp_path / "accepted", "--accept-below-floor") == 0
    assert "SHIPPED BY OVERRIDE" in capsys.readouterr().out
    manifest = json.loads((tmp_path / "accepted" / "manifest.json").read_text())
    assert manifest["provenance"]["gate"]["floor"]["override"] is True
    assert next(a for a in manifest["artifacts"] if a["format"] == "onnx")["status"] == "shipped"


def test_a_floor_the_model_reaches_lets_the_gate_decide(tiny_detector_checkpoint, tmp_path):
    assert _build(tiny_detector_checkpoint, tmp_path / "b", "--min-metric", "0") == 0
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    floor = manifest["provenance"]["gate"]["floor"]
    assert floor["passed"] and floor["source"] == "--min-metric"
    assert next(a for a in manifest["artifacts"] if a["precision"] == "fp32")["status"] == "shipped"


def test_each_task_has_a_floor():
    assert Detect.gate.floor_absolute == pytest.approx(0.30)
    samples = [Sample(Path(f"{i}.png"), 0 if i < 6 else 1) for i in range(10)]
    assert get_task("classify").floor(samples) == pytest.approx(0.65)  # majority rate 0.6 + 0.05
    assert not check_floor("top1", 0.64, 0.65, Floor()).passed
    assert check_floor("top1", 0.64, 0.65, Floor(min_metric=0.5)).passed
    refused = check_floor("map50", 0.02, 0.30, Floor())
    assert refused.refused and "not fit to deploy" in refused.message
    assert not check_floor("map50", 0.02, 0.30, Floor(accept_below=True)).refused
