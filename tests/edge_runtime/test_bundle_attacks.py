"""Hostile bundles: a pickle inside is never unpickled, a format the runtime does not know is refused,
a symlink or an archive member that escapes the bundle is refused. Each is a BundleError naming it."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle  # only to WRITE the hostile payload; test_unsafe_loading.py allows nothing that reads one
import shutil
import tarfile
from pathlib import Path

import pytest

from edge_runtime.backends import BackendOptions
from edge_runtime.bundle import MANIFEST_NAME, load_bundle
from edge_runtime.errors import AditError, BundleError
from edge_runtime.model import BundleModel


class _Payload:
    """Unpickling this writes a marker file: proof that something ran code from the bundle."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "pwned"))


@pytest.fixture
def bundle_copy(tiny_bundle: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_bundle, tmp_path / "bundle"))


def _point_artifact_at(root: Path, name: str, **changes) -> None:
    path = root / MANIFEST_NAME
    manifest = json.loads(path.read_text())
    data = (root / name).read_bytes()
    manifest["artifacts"][0].update(
        file=name, sha256=hashlib.sha256(data).hexdigest(), bytes=len(data), **changes
    )
    path.write_text(json.dumps(manifest))


def test_a_pickle_file_in_a_bundle_is_refused_before_anything_loads(bundle_copy, tmp_path):
    marker = tmp_path / "marker"
    (bundle_copy / "model.pkl").write_bytes(pickle.dumps(_Payload(marker)))
    _point_artifact_at(bundle_copy, "model.pkl")
    with pytest.raises(BundleError, match=r"pickle-bearing file\(s\) \['model.pkl'\]"):
        load_bundle(bundle_copy)
    assert not marker.exists()


def test_a_pickle_disguised_as_the_onnx_file_fails_to_load_and_is_never_unpickled(bundle_copy, tmp_path):
    marker = tmp_path / "marker"
    (bundle_copy / "model.onnx").write_bytes(pickle.dumps(_Payload(marker)))
    _point_artifact_at(bundle_copy, "model.onnx")
    bundle = load_bundle(bundle_copy)  # digests match: the file is what the manifest says
    with pytest.raises(AditError):
        BundleModel(bundle, "onnx-fp32", options=BackendOptions())
    assert not marker.exists()


@pytest.mark.parametrize("fmt", ["torch", "pickle", "pt"])
def test_a_manifest_naming_a_pickle_format_is_refused(bundle_copy, fmt):
    _point_artifact_at(bundle_copy, "model.onnx", format=fmt)
    with pytest.raises(BundleError, match="format"):
        load_bundle(bundle_copy)


def test_a_symlink_out_of_the_bundle_is_refused(bundle_copy, tmp_path):
    outside = tmp_path / "elsewhere.onnx"
    shutil.copy(bundle_copy / "model.onnx", outside)
    (bundle_copy / "model.onnx").unlink()
    os.symlink(outside, bundle_copy / "model.onnx")
    with pytest.raises(BundleError, match="outside the bundle"):
        load_bundle(bundle_copy)


def test_an_archive_member_escaping_the_target_is_refused(tmp_path):
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        data = b"owned"
        info = tarfile.TarInfo("../../escaped.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(BundleError, match="evil.tar.gz"):
        load_bundle(archive)
    assert not (tmp_path.parent / "escaped.txt").exists() and not (tmp_path / "escaped.txt").exists()


def test_a_corrupt_archive_is_a_bundle_error(tmp_path):
    archive = tmp_path / "cut.tar.gz"
    archive.write_bytes(b"\x1f\x8b\x08\x00not really gzip")
    with pytest.raises(BundleError, match="cut.tar.gz"):
        load_bundle(archive)
