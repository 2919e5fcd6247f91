"""Ed25519 signatures over a bundle's manifest: who made this bundle, and is it still what they made.

The manifest lists every file with its sha256, so a signature over the manifest covers every file:
the runtime checks the files against the manifest (``bundle.load_bundle``) and the manifest against
the signature (here). What is signed is exactly the bytes of ``manifest.json`` as the exporter wrote
them, after a fixed context line (``SIGNED_CONTEXT``), so a signature made for something else can
never pass for a bundle's. Signatures sit beside the manifest in ``signature.json`` (one per key, so
a bundle can carry the old and the new key's during a rotation); the manifest itself is never
rewritten, which keeps a signed bundle byte-identical to the one that was measured.

Keys are standard PEM files (PKCS#8 private, SubjectPublicKeyInfo public), the same ``openssl genpkey
-algorithm ed25519`` writes. This module needs only ``cryptography``: it runs on a torch-free device.
``python -m edge_runtime.signing keygen|sign|verify`` (also ``python -m export sign``).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge_runtime.bundle import MANIFEST_NAME, SIGNATURE_NAME
from edge_runtime.errors import AditError, BundleError, ConfigError
from edge_runtime.events import utc_iso
from edge_runtime.fleet.config import DEVICE_GROUP_PATTERN, TrustConfig, TrustedKey

SIGNED_CONTEXT = b"adit bundle manifest v1\n"  # prefixed to the manifest bytes before signing


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ManifestSignature(_Strict):
    key_id: str = Field(pattern=r"^[0-9a-f]{16}$", description="sha256 of the raw public key, first 16 hex")
    signer: str = Field(pattern=DEVICE_GROUP_PATTERN, description="the signer's own name (informative)")
    signature: str = Field(description="base64 Ed25519 signature of SIGNED_CONTEXT + manifest.json bytes")
    signed_at: str


class SignatureFile(_Strict):
    """``signature.json``: the manifest's digest (for a quick look) and one signature per key."""

    schema_version: int = Field(default=1, ge=1, le=1)
    algorithm: str = Field(default="ed25519", pattern="^ed25519$")
    manifest_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    signatures: list[ManifestSignature] = Field(min_length=1)


@dataclass(frozen=True)
class Signer:
    """Who signed a bundle: ``name`` is the trusted key's name when ``trusted``, else the claimed one."""

    name: str
    key_id: str
    trusted: bool


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def manifest_digest(root: Path) -> str:
    """sha256 of ``manifest.json``'s bytes: the bundle's identity (it lists every file's sha256)."""
    return hashlib.sha256(_manifest_bytes(root)).hexdigest()


def generate_key(prefix: Path) -> tuple[Path, Path]:
    """Write ``PREFIX.key`` (private, mode 0600) and ``PREFIX.pub``; refuses to overwrite either."""
    private, public = prefix.with_name(prefix.name + ".key"), prefix.with_name(prefix.name + ".pub")
    for path in (private, public):
        if path.exists():
            raise ConfigError(f"{path}: already exists; a key is never overwritten (rotate to a new name)")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    prefix.parent.mkdir(parents=True, exist_ok=True)
    with os.fdopen(os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as handle:
        handle.write(pem)
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


def load_private_key(path: Path) -> Ed25519PrivateKey:
    key = _load(path, private=True)
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path}: not an Ed25519 private key ({type(key).__name__})")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    key = _load(path, private=False)
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"{path}: not an Ed25519 public key ({type(key).__name__})")
    return key


def _load(path: Path, *, private: bool) -> object:
    try:
        data = path.read_bytes()
        if private:
            return serialization.load_pem_private_key(data, password=None)
        return serialization.load_pem_public_key(data)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the key ({exc.strerror or exc})") from exc
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{path}: not a PEM {'private' if private else 'public'} key ({exc})") from exc


def sign_bundle(root: Path, key: Ed25519PrivateKey, signer: str) -> SignatureFile:
    """Add (or replace) ``signer``'s key's signature in ``root/signature.json``, written atomically."""
    manifest = _manifest_bytes(root)
    digest = hashlib.sha256(manifest).hexdigest()
    new = ManifestSignature(
        key_id=key_id(key.public_key()),
        signer=signer,
        signature=base64.b64encode(key.sign(SIGNED_CONTEXT + manifest)).decode("ascii"),
        signed_at=utc_iso(time.time()),
    )
    existing = read_signatures(root)
    kept = [s for s in existing.signatures if s.key_id != new.key_id] if existing else []
    if existing is not None and existing.manifest_sha256 != digest:
        kept = []  # signatures of an older manifest sign nothing that is here now
    document = SignatureFile(manifest_sha256=digest, signatures=[*kept, new])
    _write_atomically(root / SIGNATURE_NAME, document.model_dump_json(indent=2) + "\n")
    return document


def read_signatures(root: Path) -> SignatureFile | None:
    """``signature.json`` of the bundle at ``root``, or None when it has none."""
    path = root / SIGNATURE_NAME
    if not path.is_file():
        return None
    try:
        return SignatureFile.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        raise BundleError(f"{path}: not a valid signature file:\n{exc}") from exc


def trusted_keys(trust: TrustConfig) -> dict[str, tuple[str, Ed25519PublicKey]]:
    """key id -> (name, key) of every trusted key; a missing or wrong file names its config field."""
    keys: dict[str, tuple[str, Ed25519PublicKey]] = {}
    for index, entry in enumerate(trust.keys):
        try:
            key = load_public_key(entry.public_key)
        except ConfigError as exc:
            raise ConfigError(f"trust.keys[{index}].public_key: {exc}") from exc
        keys[key_id(key)] = (entry.name, key)
    return keys


def trust_of(public_keys: Sequence[Path]) -> TrustConfig:
    """A trust section from key files given on a command line, each named after its file."""
    try:
        return TrustConfig(keys=[TrustedKey(name=path.stem, public_key=path) for path in public_keys])
    except ValidationError as exc:
        names = ", ".join(path.name for path in public_keys)
        raise ConfigError(f"--trust {names}: name key files with letters, digits, . _ - ({exc})") from exc


def check_signature(root: Path, trust: TrustConfig, *, label: str | None = None) -> Signer | None:
    """Who signed the bundle at ``root``; BundleError when ``trust`` requires a signer it has not.

    With trusted keys: an unsigned bundle, one signed only by unknown keys, or one whose trusted
    signature does not match its manifest is refused. Without: the claimed signer is returned
    (``trusted=False``), or None for an unsigned bundle. ``label`` names the bundle in messages.
    """
    name = label or str(root)
    document = read_signatures(root)
    if not trust.required:
        if document is None:
            return None
        first = document.signatures[0]
        return Signer(first.signer, first.key_id, trusted=False)
    keys = trusted_keys(trust)
    known = ", ".join(f"{n} ({k})" for k, (n, _) in keys.items())
    if document is None:
        raise BundleError(
            f"{name}: unsigned bundle (no {SIGNATURE_NAME}); this device runs only bundles signed by: {known}"
        )
    manifest = _manifest_bytes(root)
    trusted = [s for s in document.signatures if s.key_id in keys]
    if not trusted:
        claimed = ", ".join(f"{s.signer!r} (key {s.key_id})" for s in document.signatures)
        raise BundleError(f"{name}: signed by unknown signer {claimed}; this device trusts: {known}")
    for entry in trusted:
        trusted_name, key = keys[entry.key_id]
        try:
            key.verify(base64.b64decode(entry.signature, validate=True), SIGNED_CONTEXT + manifest)
        except (InvalidSignature, ValueError) as exc:
            raise BundleError(
                f"{name}: the signature of {trusted_name!r} (key {entry.key_id}) does not match "
                f"{MANIFEST_NAME}: the manifest was changed after it was signed"
            ) from exc
    return Signer(keys[trusted[0].key_id][0], trusted[0].key_id, trusted=True)


def _manifest_bytes(root: Path) -> bytes:
    path = root / MANIFEST_NAME
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BundleError(f"{root}: no readable {MANIFEST_NAME} ({exc.strerror or exc})") from exc


def _write_atomically(path: Path, text: str) -> None:
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False) as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(handle.name, path)


def add_sign_arguments(parser: argparse.ArgumentParser) -> None:
    """``BUNDLE --key KEY [--signer NAME]``: shared by this CLI and ``python -m export sign``."""
    parser.add_argument("bundle", type=Path, help="bundle directory")
    parser.add_argument("--key", type=Path, required=True, help="Ed25519 private key (PEM)")
    parser.add_argument("--signer", help="name recorded with the signature (default: the key file's stem)")


def sign_command(args: argparse.Namespace) -> int:
    key = load_private_key(args.key)
    document = sign_bundle(args.bundle, key, args.signer or args.key.stem)
    new = document.signatures[-1]
    print(
        f"signed {args.bundle} ({MANIFEST_NAME} sha256 {document.manifest_sha256[:16]}...) "
        f"as {new.signer} (key {new.key_id})"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m edge_runtime.signing", description=__doc__.splitlines()[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    keygen = commands.add_parser("keygen", help="write PREFIX.key (private, 0600) and PREFIX.pub")
    keygen.add_argument("prefix", type=Path, help="e.g. keys/release-2026")
    add_sign_arguments(commands.add_parser("sign", help="sign a bundle's manifest (signature.json)"))
    verify = commands.add_parser("verify", help="check a bundle's files and signature against trusted keys")
    verify.add_argument("bundle", type=Path)
    verify.add_argument(
        "--trust", type=Path, nargs="+", required=True, metavar="PUB", help="trusted public keys"
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "keygen":
            private, public = generate_key(args.prefix)
            print(
                f"private key {private} (keep it off the devices); public key {public} "
                f"(key {key_id(load_public_key(public))})"
            )
            return 0
        if args.command == "sign":
            return sign_command(args)
        from edge_runtime.bundle import load_bundle

        load_bundle(args.bundle)
        trust = trust_of(args.trust)
        signer = check_signature(args.bundle, trust)  # trust is required: an unsigned bundle raises
        print(f"OK: every file matches the manifest, signed by {signer.name if signer else '?'}")
        return 0
    except AditError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
