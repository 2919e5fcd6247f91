"""Every file the runtime reads is listed with its sha256, and a shipped archive always loads its own content.

Before (issue 15): an OpenVINO artifact whose ``weights`` was null loaded a ``model.bin`` the manifest
did not list, ONNX external data was not listed either, and ``export verify`` said every artifact
matched after both were changed; ``bundle.tar.gz`` next to an older unpacked ``bundle/`` ran the old one.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx.external_data_helper import convert_model_to_external_data

from edge_runtime.backends import BackendOptions
from edge_runtime.bundle import MANIFEST_NAME, load_bundle
from edge_runtime.errors import BundleError
from edge_runtime.model import BundleModel

REPO = Path(__file__).parents[2]


@pytest.fixture
def bundle_copy(tiny_bundle: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_bundle, tmp_path / "bundle"))


def _manifest(root: Path) -> dict:
    return json.loads((root / MANIFEST_NAME).read_text())


def _write(root: Path, manifest: dict) -> None:
    (root / MANIFEST_NAME).write_text(json.dumps(manifest))


def _verify(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "export", "verify", str(root)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )


def test_openvino_weights_left_out_of_the_manifest_are_refused(bundle_copy):
    manifest = _manifest(bundle_copy)
    manifest["artifacts"][1]["weights"] = None
    _write(bundle_copy, manifest)
    weights = bundle_copy / "openvino" / "model.bin"
    weights.write_bytes(weights.read_bytes()[::-1])  # changed, and nothing would have noticed
    with pytest.raises(BundleError, match=r"not listed in the manifest: \['openvino/model.bin'\]"):
        load_bundle(bundle_copy)
    verify = _verify(bundle_copy)
    assert verify.returncode == 2 and "openvino/model.bin" in verify.stderr and "OK" not in verify.stdout


def test_weights_that_are_not_the_ones_openvino_reads_are_refused(bundle_copy):
    manifest = _manifest(bundle_copy)
    manifest["artifacts"][1]["weights"]["file"] = "openvino/other.bin"
    _write(bundle_copy, manifest)
    with pytest.raises(BundleError, match="is not 'openvino/model.bin'"):
        load_bundle(bundle_copy)


def test_any_stray_file_is_refused(bundle_copy):
    (bundle_copy / "openvino" / "notes.txt").write_text("left by hand")
    with pytest.raises(BundleError, match=r"\['openvino/notes.txt'\]"):
        load_bundle(bundle_copy)


def _with_external_data(root: Path) -> None:
    """The ONNX artifact re-saved with its weights in ``model.onnx.data`` (as models over 2 GB are)."""
    model = onnx.load(str(root / "model.onnx"))
    convert_model_to_external_data(
        model, all_tensors_to_one_file=True, location="model.onnx.data", size_threshold=0
    )
    onnx.save(model, str(root / "model.onnx"))


def test_onnx_external_data_must_be_listed_and_is_checked(bundle_copy):
    from export.manifest_files import artifact_entry  # the exporter's side (needs onnx: workstation)

    _with_external_data(bundle_copy)
    manifest = _manifest(bundle_copy)
    manifest["artifacts"][0] = json.loads(
        artifact_entry(bundle_copy, "onnx-fp32", bundle_copy / "model.onnx").model_dump_json()
    )
    without = {
        **manifest,
        "artifacts": [{**manifest["artifacts"][0], "data": []}, *manifest["artifacts"][1:]],
    }
    _write(bundle_copy, without)
    with pytest.raises(BundleError, match=r"not listed in the manifest: \['model.onnx.data'\]"):
        load_bundle(bundle_copy)
    _write(bundle_copy, manifest)  # as the exporter writes it
    assert [d["file"] for d in manifest["artifacts"][0]["data"]] == ["model.onnx.data"]
    model = BundleModel(load_bundle(bundle_copy), "onnx-fp32", options=BackendOptions())
    red = np.zeros((1, 32, 32, 3), np.uint8)
    red[..., 2] = 255
    assert model.classify(red)[0].label == "red"  # the weights really come from the data file
    data = bundle_copy / "model.onnx.data"
    data.write_bytes(data.read_bytes()[:-4] + np.float32(99.0).tobytes())
    with pytest.raises(BundleError, match=r"model.onnx.data does not match the manifest"):
        load_bundle(bundle_copy)


def test_the_exporter_lists_every_file_an_artifact_reads(bundle_copy):
    from export.manifest_files import artifact_entry

    ir = artifact_entry(bundle_copy, "openvino-fp32", bundle_copy / "openvino" / "model.xml")
    assert ir.weights is not None and ir.weights.file == "openvino/model.bin" and ir.data == []
    assert artifact_entry(bundle_copy, "onnx-fp32", bundle_copy / "model.onnx").data == []
    _with_external_data(bundle_copy)
    entry = artifact_entry(bundle_copy, "onnx-fp32", bundle_copy / "model.onnx")
    expected = hashlib.sha256((bundle_copy / "model.onnx.data").read_bytes()).hexdigest()
    assert [(d.file, d.sha256) for d in entry.data] == [("model.onnx.data", expected)]


def _pack(root: Path, archive: Path) -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root, arcname=root.name)
    return archive


def _renamed(root: Path, name: str) -> None:
    manifest = _manifest(root)
    manifest["name"] = name
    _write(root, manifest)


def test_an_archive_loads_its_own_content_never_a_stale_folder(bundle_copy, tmp_path):
    shipping = tmp_path / "shipping"
    shipping.mkdir()
    archive = _pack(bundle_copy, shipping / "bundle.tar.gz")
    stale = Path(shutil.copytree(bundle_copy, shipping / "bundle"))  # what an older version unpacked
    _renamed(stale, "stale")
    first = load_bundle(archive)
    assert first.manifest.name == "tiny-colour" and first.root != stale
    assert _manifest(stale)["name"] == "stale"  # the old folder is left alone, not trusted
    _renamed(first.root, "tampered")  # the unpacked folder changed after the first load
    again = load_bundle(archive)
    assert again.manifest.name == "tiny-colour" and again.root == first.root  # unpacked afresh
    _renamed(bundle_copy, "v2")
    _pack(bundle_copy, archive)  # a new version shipped under the same name
    newer = load_bundle(archive)
    assert newer.manifest.name == "v2"
    assert [p.name for p in newer.root.parent.parent.iterdir()] == [
        newer.root.parent.name
    ]  # one version kept


def test_a_corrupt_archive_leaves_nothing_half_unpacked(tmp_path):
    archive = tmp_path / "bundle.tar.gz"
    archive.write_bytes(b"\x1f\x8b\x08\x00" + b"\x00" * 100)
    with pytest.raises(BundleError, match="cannot unpack the bundle archive"):
        load_bundle(archive)
    assert list((tmp_path / ".bundle.unpacked").iterdir()) == []
