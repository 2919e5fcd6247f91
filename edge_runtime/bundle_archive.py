"""A shipped ``bundle.tar.gz`` becomes a folder the runtime loads: always a fresh one, switched in atomically.

Unpacking over an existing folder (as before) left files of the older bundle in place, and an
older folder beside the archive could be loaded instead of the archive's own content. Now every
load extracts the archive into a new temporary folder next to it and renames that folder to its
final name (``.NAME.unpacked/<archive digest>``): a rename is atomic, so a reader never sees a
half-unpacked folder, and a folder that is already there (tampered with, or left by a crash) is
replaced, never trusted. Versions of earlier archives of the same name are removed.
"""

from __future__ import annotations

import hashlib
import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path

from edge_runtime.errors import BundleError

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz")


def is_archive(path: Path) -> bool:
    return path.is_file() and path.name.endswith(ARCHIVE_SUFFIXES)


def unpack(archive: Path, manifest_name: str) -> Path:
    """Extract ``archive`` into a fresh folder and return the bundle folder inside it."""
    stem = archive.name.removesuffix(".tar.gz").removesuffix(".tgz")
    versions = archive.with_name(f".{stem}.unpacked")
    try:
        digest = _sha256(archive)
        versions.mkdir(exist_ok=True)
        fresh = Path(tempfile.mkdtemp(prefix=".new-", dir=versions))
    except OSError as exc:
        raise BundleError(f"{archive}: cannot unpack the bundle archive ({exc})") from exc
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(fresh, filter="data")  # FilterError (a TarError): a member escapes the folder
        target = versions / digest[:16]
        _switch(fresh, target)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        shutil.rmtree(fresh, ignore_errors=True)
        raise BundleError(f"{archive}: cannot unpack the bundle archive ({exc})") from exc
    for older in versions.iterdir():
        if older != target:
            shutil.rmtree(older, ignore_errors=True)  # loaded daemons keep their files open: safe on Linux
    inner = [p for p in target.iterdir() if p.is_dir()]
    return inner[0] if len(inner) == 1 and not (target / manifest_name).exists() else target


def _switch(fresh: Path, target: Path) -> None:
    """Put ``fresh`` in ``target``'s place with renames; an existing ``target`` is moved away first."""
    if target.exists():
        stale = Path(tempfile.mkdtemp(prefix=".old-", dir=target.parent))
        target.rename(stale / "folder")
    fresh.rename(target)


def _sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            sha.update(chunk)
    return sha.hexdigest()
