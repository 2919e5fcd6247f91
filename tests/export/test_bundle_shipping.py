"""The shipped bundle: verify runs every artifact, tar round-trips, tampering and pickles are refused."""

import json
import shutil

import pytest

from edge_runtime.bundle import load_bundle
from edge_runtime.errors import BundleError
from edge_runtime.measure.verify import smoke_run
from export.__main__ import main as export_main


@pytest.fixture
def bundle_copy(tiny_real_bundle, tmp_path):
    return shutil.copytree(tiny_real_bundle, tmp_path / "bundle")


def test_verify_runs_every_artifact_on_a_zero_input(tiny_real_bundle, capsys):
    assert export_main(["verify", str(tiny_real_bundle)]) == 0
    out = capsys.readouterr().out
    assert "every artifact loads and runs" in out
    outcomes = smoke_run(load_bundle(tiny_real_bundle))
    assert set(outcomes) == {a.key for a in load_bundle(tiny_real_bundle).manifest.artifacts}


def test_provenance_is_complete(tiny_real_bundle):
    provenance = load_bundle(tiny_real_bundle).manifest.provenance
    for key in (
        "training_config",
        "dataset_fingerprint",
        "code_version",
        "calibration_set",
        "export_options",
        "gate",
    ):
        assert provenance.get(key), key
    assert len(provenance["calibration_set"]["fingerprint"]) == 16


def test_tar_packing_loads_back(tiny_checkpoint, tiny_real_bundle, tmp_path):
    archive = tmp_path / "site.tar.gz"
    shutil.make_archive(
        str(tmp_path / "site"), "gztar", root_dir=tiny_real_bundle.parent, base_dir=tiny_real_bundle.name
    )
    bundle = load_bundle(archive)
    assert bundle.manifest == load_bundle(tiny_real_bundle).manifest


def test_tar_cli_writes_an_archive_that_loads(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "shipped"
    code = export_main(
        [
            "build",
            "--checkpoint",
            str(tiny_checkpoint),
            "--out",
            str(out),
            "--formats",
            "onnx-fp32",
            "--calibration-size",
            "4",
            "--tar",
        ]
    )
    assert code == 0 and "packed" in capsys.readouterr().out
    assert load_bundle(tmp_path / "shipped.tar.gz").manifest.artifacts[0].key == "onnx-fp32"


def test_tampered_artifact_fails_verify(bundle_copy, capsys):
    with (bundle_copy / "model.int8.onnx").open("ab") as handle:
        handle.write(b"\0")
    assert export_main(["verify", str(bundle_copy)]) == 2
    assert "model.int8.onnx does not match the manifest" in capsys.readouterr().err


def _edit_manifest(root, edit):
    path = root / "manifest.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_path_outside_the_bundle_fails_verify(bundle_copy, capsys):
    _edit_manifest(bundle_copy, lambda d: d["artifacts"][0].update(file="../outside.onnx"))
    assert export_main(["verify", str(bundle_copy)]) == 2
    assert "'../outside.onnx', which lies outside the bundle" in capsys.readouterr().err


def test_newer_schema_fails_verify(bundle_copy, capsys):
    _edit_manifest(bundle_copy, lambda d: d.update(schema=99))
    assert export_main(["verify", str(bundle_copy)]) == 2
    assert "schema 99 is newer" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["weights.pt", "openvino/extra.pkl", "model.pth"])
def test_pickle_bearing_files_are_refused(bundle_copy, name):
    (bundle_copy / name).write_bytes(b"\x80\x04")
    with pytest.raises(BundleError, match="pickle-bearing"):
        load_bundle(bundle_copy)
