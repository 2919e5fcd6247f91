"""Bundle verification: a bundle that does not match its manifest is refused, naming the file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from edge_runtime.bundle import MANIFEST_NAME, load_bundle
from edge_runtime.errors import BundleError


@pytest.fixture
def bundle_copy(tiny_bundle: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_bundle, tmp_path / "bundle"))


def _edit_manifest(root: Path, edit) -> None:
    path = root / MANIFEST_NAME
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))


def test_tiny_bundle_loads_with_both_artifacts(tiny_bundle):
    bundle = load_bundle(tiny_bundle)
    assert bundle.manifest.classes == ["red", "green", "blue"]
    assert [a.key for a in bundle.manifest.artifacts] == ["onnx-fp32", "openvino-fp32"]
    assert bundle.artifact().key == "onnx-fp32"


@pytest.mark.parametrize("name", ["model.onnx", "openvino/model.bin"])
def test_tampered_artifact_is_refused_naming_the_file(bundle_copy, name):
    target = bundle_copy / name
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=name.replace(".", r"\.")):
        load_bundle(bundle_copy)


def test_missing_artifact_is_refused_naming_the_file(bundle_copy):
    (bundle_copy / "openvino" / "model.xml").unlink()
    with pytest.raises(BundleError, match=r"openvino/model\.xml is missing"):
        load_bundle(bundle_copy)


def test_manifest_path_outside_the_bundle_is_refused(bundle_copy):
    shutil.copy(bundle_copy / "model.onnx", bundle_copy.parent / "evil.onnx")
    _edit_manifest(bundle_copy, lambda m: m["artifacts"][0].update(file="../evil.onnx"))
    with pytest.raises(BundleError, match="outside the bundle"):
        load_bundle(bundle_copy)


def test_newer_schema_is_refused(bundle_copy):
    _edit_manifest(bundle_copy, lambda m: m.update(schema=m["schema"] + 1))
    with pytest.raises(BundleError, match="newer than this runtime"):
        load_bundle(bundle_copy)


def test_unknown_artifact_key_lists_the_valid_ones(tiny_bundle):
    with pytest.raises(BundleError, match="onnx-fp32, openvino-fp32"):
        load_bundle(tiny_bundle).artifact("onnx-int8")


def test_a_schema_1_manifest_still_loads_its_postprocess_from_the_task(bundle_copy):
    def as_written_by_schema_1(manifest: dict) -> None:
        manifest.update(schema=1, postprocess={"softmax": True})
        for artifact in manifest["artifacts"]:
            artifact.pop("precision_hint", None)

    _edit_manifest(bundle_copy, as_written_by_schema_1)
    manifest = load_bundle(bundle_copy).manifest
    assert manifest.postprocess.type == "scores" and manifest.postprocess.softmax


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda m: m["postprocess"].update(score_treshold=0.3), "score_treshold"),  # a typo is not a default
        (lambda m: m["input"].update(mean=[0.5, float("inf"), 0.5]), "input.mean"),
        (lambda m: m.update(classes=["red", "red", "blue"]), "classes"),
    ],
)
def test_a_manifest_typo_or_a_non_finite_constant_is_refused_naming_the_field(bundle_copy, edit, field):
    _edit_manifest(bundle_copy, lambda m: m.update(postprocess={"type": "scores"}))
    _edit_manifest(bundle_copy, edit)
    with pytest.raises(BundleError, match=field.replace(".", r"\.")):
        load_bundle(bundle_copy)
