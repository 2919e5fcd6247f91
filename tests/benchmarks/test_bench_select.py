"""``select`` picks the fastest artifact that passed the gate, never a rejected one; the daemon accepts it."""

import json
import shutil

import pytest

from benchmarks.__main__ import main as bench_main
from edge_runtime.bundle import load_bundle, write_manifest
from edge_runtime.config import load_site_config
from edge_runtime.measure.select import SelectError, select_artifact


def _row(fmt: str, precision: str, p50: float) -> dict:
    return {
        "name": f"{fmt}-{precision}",
        "format": fmt,
        "precision": precision,
        "backend": "x",
        "p50_ms": p50,
        "top1": 0.9,
        "runtime_precision": precision,
    }


@pytest.fixture
def half_rejected(tiny_bundle, tmp_path):
    """The tiny bundle with its OpenVINO artifact marked rejected by the gate."""
    root = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, root)
    manifest = load_bundle(root).manifest
    artifacts = [
        a.model_copy(update={"status": "rejected"}) if a.format == "openvino" else a
        for a in manifest.artifacts
    ]
    write_manifest(root, manifest.model_copy(update={"artifacts": artifacts}))
    return root


RESULTS = {
    "rows": [
        {**_row("pytorch", "fp32", 0.1), "backend": "pytorch"},
        _row("openvino", "fp32", 0.2),
        _row("onnx", "fp32", 0.5),
    ]
}


def test_fastest_shipped_artifact_is_selected(tiny_bundle):
    key, row = select_artifact(load_bundle(tiny_bundle), RESULTS)
    assert key == "openvino-fp32" and row["p50_ms"] == 0.2  # PyTorch is faster here but is not an artifact


def test_rejected_artifact_is_never_selected(half_rejected):
    assert select_artifact(load_bundle(half_rejected), RESULTS)[0] == "onnx-fp32"
    only_rejected = {"rows": [_row("openvino", "fp32", 0.2)]}
    with pytest.raises(SelectError, match="passed the accuracy gate"):
        select_artifact(load_bundle(half_rejected), only_rejected)


def test_select_writes_a_site_config_the_daemon_accepts(half_rejected, tmp_path, capsys):
    results = tmp_path / "results.json"
    results.write_text(json.dumps(RESULTS))
    site = tmp_path / "site-selected.yaml"
    assert (
        bench_main(
            ["select", "--bundle", str(half_rejected), "--results", str(results), "--write", str(site)]
        )
        == 0
    )
    assert "model.artifact=onnx-fp32" in capsys.readouterr().out
    config = load_site_config(site)
    assert config.model.artifact == "onnx-fp32" and config.model.bundle == half_rejected


def test_select_reports_unreadable_results(tiny_bundle, tmp_path, capsys):
    assert (
        bench_main(["select", "--bundle", str(tiny_bundle), "--results", str(tmp_path / "missing.json")]) == 2
    )
    assert "missing.json" in capsys.readouterr().err
