"""The daemon holds its model against the manifest at start: a bundle whose classes, input size or
preprocessing constants do not fit its model is refused by ``--validate`` and ``run`` alike (exit 2),
naming the bundle and the field, before any frame."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from edge_runtime.bundle import load_bundle
from edge_runtime.cli import main
from edge_runtime.model import load_model


def _edited(tiny_bundle: Path, tmp_path: Path, edit) -> Path:
    """The tiny bundle with its manifest changed (the manifest is not among the digested files)."""
    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, bundle)
    manifest = json.loads((bundle / "manifest.json").read_text())
    edit(manifest)
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    return bundle


def _add_class(manifest: dict) -> None:
    manifest["classes"].append("purple")


def _double_size(manifest: dict) -> None:
    manifest["input"]["size"] = [64, 64]


def _nan_mean(manifest: dict) -> None:
    manifest["input"]["mean"] = [float("nan"), 0.0, 0.0]


@pytest.mark.parametrize(
    ("edit", "field"),
    [(_add_class, "classes"), (_double_size, "input.size"), (_nan_mean, "input.mean")],
)
@pytest.mark.parametrize("command", [["run", "--validate"], ["replay"]])
def test_a_model_that_does_not_fit_its_manifest_stops_the_start(
    tiny_bundle, colour_video, tmp_path, capsys, edit, field, command
):
    bundle = _edited(tiny_bundle, tmp_path, edit)
    args = [*command, *([str(colour_video.path)] if command == ["replay"] else [])]
    site = tmp_path / "site.yaml"
    cameras = [{"name": "cam1", "source": str(colour_video.path)}]
    site.write_text(
        yaml.safe_dump({"model": {"bundle": str(bundle)}, "cameras": cameras, "http": {"port": 0}})
    )
    assert main([*args, "--config", str(site), f"outbox.path={tmp_path / 'outbox.sqlite'}"]) == 2
    error = capsys.readouterr().err
    assert str(bundle) in error and field in error


def test_a_fitting_model_loads_at_the_precision_the_site_asks(tiny_bundle):
    bundle = load_bundle(tiny_bundle)
    assert load_model(bundle, "openvino-fp32", precision="f32").runtime_precision == "fp32"
    assert load_model(bundle, "onnx-fp32").runtime_precision == "fp32"
