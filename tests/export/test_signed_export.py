"""``export build --sign-key``: the bundle leaves the workstation signed, its archive too."""

from pathlib import Path

from edge_runtime.bundle import load_bundle
from edge_runtime.fleet.config import TrustConfig, TrustedKey
from edge_runtime.signing import check_signature, generate_key
from export.__main__ import main as export_main


def _build(checkpoint: Path, out: Path, key: Path, *extra: str) -> int:
    arguments = ["build", "--checkpoint", str(checkpoint), "--out", str(out), "--sign-key", str(key)]
    return export_main([*arguments, *extra])


def test_build_signs_the_bundle_and_the_archive_carries_the_signature(tiny_checkpoint, tmp_path, capsys):
    private, public = generate_key(tmp_path / "keys" / "release")
    out = tmp_path / "shipped"
    code = _build(tiny_checkpoint, out, private, "--formats", "onnx-fp32", "--calibration-size", "4", "--tar")
    assert code == 0, capsys.readouterr().err
    trust = TrustConfig(keys=[TrustedKey(name="release", public_key=public)])
    assert check_signature(out, trust).name == "release"
    unpacked = load_bundle(tmp_path / "shipped.tar.gz")  # signature.json is allowed beside the manifest
    assert check_signature(unpacked.root, trust).trusted


def test_a_bad_signing_key_fails_before_any_work(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "never"
    assert _build(tiny_checkpoint, out, tmp_path / "missing.key") == 2
    assert "missing.key" in capsys.readouterr().err
    assert not out.exists()
