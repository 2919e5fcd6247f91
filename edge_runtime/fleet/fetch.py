"""Getting a desired bundle onto the device: a path on a shared volume, or an HTTP(S) download that resumes.

A mine's network drops mid-transfer. A download goes to ``NAME.part`` in the store's staging folder;
the next try asks for the rest with ``Range: bytes=N-`` and appends when the server answers 206 (a
server that ignores ranges answers 200 and the file starts over). A finished archive is checked
against the sha256 the rollout published before anything unpacks it; the bundle's own checks
(signature, every file's sha256) follow in ``BundleStore.add``.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from edge_runtime.bundle import file_digest
from edge_runtime.errors import BundleError

log = logging.getLogger(__name__)

CHUNK = 1 << 16
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-\d+/(\d+|\*)$")


class FetchError(OSError):
    """The bundle could not be fetched now (network, server, volume): worth trying again later."""


def is_http(url: str) -> bool:
    return urllib.parse.urlsplit(url).scheme in ("http", "https")


def local_path(url: str) -> Path:
    """A shared-volume location: ``file:///mnt/x`` or a plain path."""
    parts = urllib.parse.urlsplit(url)
    return Path(urllib.parse.unquote(parts.path)) if parts.scheme == "file" else Path(url)


def fetch(
    url: str,
    staging: Path,
    *,
    timeout_s: float,
    expect_sha256: str | None = None,
    stop: threading.Event | None = None,
) -> Path:
    """Where the bundle at ``url`` can be read locally: the shared path itself, or the finished download.

    Raises FetchError (try again later) or BundleError (the archive is not the one asked for).
    """
    if not is_http(url):
        path = local_path(url)
        if not path.exists():
            raise FetchError(f"{url}: not found on the shared volume")
        if expect_sha256 is not None and path.is_file():
            _check_digest(path, expect_sha256, url)
        return path
    name = Path(urllib.parse.urlsplit(url).path).name or "bundle.tar.gz"
    key = hashlib.sha256(url.encode()).hexdigest()[:12]
    done, part = staging / f"{key}-{name}", staging / f"{key}-{name}.part"
    if done.is_file() and (expect_sha256 is None or sha256_file(done) == expect_sha256):
        return done
    resumed = _download(url, part, timeout_s, stop)
    if expect_sha256 is not None:
        try:
            _check_digest(part, expect_sha256, url)
        except BundleError as exc:
            part.unlink(missing_ok=True)  # never resume a wrong file
            if resumed:  # the file may have changed on the server between the two parts: start over
                raise FetchError(f"{exc}; downloading it again from the start") from exc
            raise
    part.replace(done)
    return done


def _download(url: str, part: Path, timeout_s: float, stop: threading.Event | None) -> bool:
    """Fetch the rest of ``url`` into ``part``; True when it continued an earlier part."""
    have = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout_s)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # asked beyond the end: what we have may be all of it
            return True
        raise FetchError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except (OSError, http.client.HTTPException) as exc:  # URLError is an OSError
        raise FetchError(f"{url}: {getattr(exc, 'reason', exc)}") from exc
    with response:
        mode = "wb"
        if have and response.status == 206:
            start = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if start is None or int(start.group(1)) != have:
                raise FetchError(
                    f"{url}: the server resumed at the wrong place ({response.headers.get('Content-Range')})"
                )
            mode = "ab"
            log.info("%s: resuming at byte %d", url, have)
        try:
            with part.open(mode) as handle:
                while chunk := response.read(CHUNK):
                    handle.write(chunk)
                    if stop is not None and stop.is_set():
                        raise FetchError(f"{url}: download stopped (the daemon is stopping)")
        except (OSError, http.client.HTTPException) as exc:  # dropped, timed out, disk full: keep the part
            raise FetchError(f"{url}: download interrupted at byte {part.stat().st_size} ({exc})") from exc
    expected = response.headers.get("Content-Length")
    if expected is not None and response.status in (200, 206):
        total = int(expected) + (have if mode == "ab" else 0)
        if part.stat().st_size != total:
            raise FetchError(f"{url}: download interrupted at byte {part.stat().st_size} of {total}")
    return mode == "ab"


def _check_digest(path: Path, expect: str, url: str) -> None:
    actual = sha256_file(path)
    if actual != expect:
        raise BundleError(f"{url}: archive sha256 {actual[:16]}... is not the published {expect[:16]}...")


def sha256_file(path: Path) -> str:
    return file_digest(path, path.parent).sha256
