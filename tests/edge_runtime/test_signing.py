"""Signed bundles: who made a bundle, and is it still what they made (edge_runtime.signing)."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest
import yaml
from daemon_helpers import spawn_daemon

from edge_runtime.bundle import MANIFEST_NAME, file_digest, load_bundle
from edge_runtime.errors import BundleError, ConfigError
from edge_runtime.fleet.config import TrustConfig, TrustedKey
from edge_runtime.signing import (
    SIGNATURE_NAME,
    check_signature,
    generate_key,
    load_private_key,
    main,
    manifest_digest,
    sign_bundle,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, tuple[Path, Path]]:
    return {
        name: generate_key(tmp_path / "keys" / name) for name in ("release-2026", "release-2027", "stranger")
    }


@pytest.fixture
def bundle(tiny_bundle: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_bundle, tmp_path / "bundle"))


def trust(keys, *names: str) -> TrustConfig:
    return TrustConfig(keys=[TrustedKey(name=name, public_key=keys[name][1]) for name in names])


def test_keygen_writes_a_private_key_only_its_owner_reads_and_never_overwrites(keys, tmp_path):
    private, public = keys["release-2026"]
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert public.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    with pytest.raises(ConfigError, match="already exists"):
        generate_key(tmp_path / "keys" / "release-2026")


def test_a_signed_bundle_names_its_trusted_signer(bundle, keys):
    sign_bundle(bundle, load_private_key(keys["release-2026"][0]), "release-2026")
    signer = check_signature(bundle, trust(keys, "release-2026"))
    assert signer is not None and signer.trusted and signer.name == "release-2026"
    document = json.loads((bundle / SIGNATURE_NAME).read_text())
    assert document["manifest_sha256"] == manifest_digest(bundle)


def test_unsigned_bundle_is_refused_when_the_site_trusts_keys(bundle, keys):
    with pytest.raises(BundleError, match=r"unsigned bundle .*release-2026"):
        check_signature(bundle, trust(keys, "release-2026"), label="site-bundle")
    assert check_signature(bundle, TrustConfig()) is None  # no keys configured: hashes only, as before


def test_unknown_signer_is_refused_naming_it_and_the_trusted_ones(bundle, keys):
    sign_bundle(bundle, load_private_key(keys["stranger"][0]), "stranger")
    with pytest.raises(BundleError, match=r"unknown signer 'stranger'.*trusts: release-2026"):
        check_signature(bundle, trust(keys, "release-2026"))


def test_a_manifest_changed_after_signing_is_refused_even_with_consistent_hashes(bundle, keys):
    sign_bundle(bundle, load_private_key(keys["release-2026"][0]), "release-2026")
    # an attacker who replaces an artifact and rewrites its digest passes the hash check...
    (bundle / "model.onnx").write_bytes((bundle / "model.onnx").read_bytes() + b"\0")
    manifest = json.loads((bundle / MANIFEST_NAME).read_text())

    digest = file_digest(bundle / "model.onnx", bundle)
    manifest["artifacts"][0].update(sha256=digest.sha256, bytes=digest.bytes)
    (bundle / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
    load_bundle(bundle)
    # ...but not the signature
    with pytest.raises(BundleError, match="does not match manifest.json"):
        check_signature(bundle, trust(keys, "release-2026"))


def test_rotation_a_bundle_signed_by_old_and_new_key_runs_on_devices_trusting_either(bundle, keys):
    sign_bundle(bundle, load_private_key(keys["release-2026"][0]), "release-2026")
    sign_bundle(bundle, load_private_key(keys["release-2027"][0]), "release-2027")
    assert len(json.loads((bundle / SIGNATURE_NAME).read_text())["signatures"]) == 2
    assert check_signature(bundle, trust(keys, "release-2026")).name == "release-2026"
    assert check_signature(bundle, trust(keys, "release-2027")).name == "release-2027"
    # a device whose config dropped the old key after the rotation still runs it (the new signature)
    assert check_signature(bundle, trust(keys, "release-2027", "stranger")).trusted


def test_signing_again_after_the_manifest_changed_drops_the_stale_signatures(bundle, keys):
    sign_bundle(bundle, load_private_key(keys["release-2026"][0]), "release-2026")
    manifest = json.loads((bundle / MANIFEST_NAME).read_text())
    (bundle / MANIFEST_NAME).write_text(json.dumps(manifest | {"version": "9.9.9"}, indent=2) + "\n")
    sign_bundle(bundle, load_private_key(keys["release-2027"][0]), "release-2027")
    assert [s["signer"] for s in json.loads((bundle / SIGNATURE_NAME).read_text())["signatures"]] == [
        "release-2027"
    ]


def test_cli_sign_and_verify_exit_codes(bundle, keys, capsys):
    private, public = keys["release-2026"]
    assert main(["verify", str(bundle), "--trust", str(public)]) == 2
    assert "unsigned bundle" in capsys.readouterr().err
    assert main(["sign", str(bundle), "--key", str(private)]) == 0
    assert main(["verify", str(bundle), "--trust", str(public)]) == 0
    assert "signed by release-2026" in capsys.readouterr().out
    assert main(["sign", str(bundle), "--key", str(public)]) == 2  # a public key cannot sign
    assert "not a PEM private key" in capsys.readouterr().err
    odd = Path(shutil.copy(public, public.with_name("release 2026.pub")))
    assert main(["verify", str(bundle), "--trust", str(odd)]) == 2
    assert "release 2026.pub" in capsys.readouterr().err


def test_export_cli_signs_a_bundle(bundle, keys):
    from export.__main__ import main as export_main

    assert export_main(["sign", str(bundle), "--key", str(keys["release-2026"][0])]) == 0
    assert check_signature(bundle, trust(keys, "release-2026")).name == "release-2026"


def test_the_daemon_refuses_an_unsigned_bundle_before_opening_anything(colour_site, keys, tmp_path):
    site = yaml.safe_load(colour_site.read_text())
    site["trust"] = {"keys": [{"name": "release-2026", "public_key": str(keys["release-2026"][1])}]}
    colour_site.write_text(yaml.safe_dump(site))
    process = spawn_daemon(colour_site, REPO)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 2, err
    assert "unsigned bundle" in err and site["model"]["bundle"] in err and "release-2026" in err
    assert not Path(site["sinks"]["jsonl"]["path"]).exists()  # nothing ran
