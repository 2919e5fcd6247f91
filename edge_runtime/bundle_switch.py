"""The device's verified bundles, and an atomic switch between them that rolls back on failed health.

``BundleStore`` keeps bundles under one folder, each in ``bundles/<id>`` where the id is the sha256
of its ``manifest.json`` (which lists every file's sha256, so the id names the whole content). A
bundle enters the store only through ``add``: copied or unpacked into a fresh folder, every file
checked against the manifest and the manifest against a trusted signature, then renamed into place,
so a reader never sees a half-written bundle. ``current`` and ``previous`` are symlinks, each replaced
by a rename (atomic on POSIX): the device runs exactly one whole bundle, the old one or the new one.

``BundleSwitch`` moves a running daemon (anything with ``Runner``'s three methods) from its bundle to
another and watches its health for a window: healthy, the new bundle stays; not, the previous one is
restored and started again, and the failed bundle is remembered so the same bundle is not retried in
a loop. The fleet uses it for rollouts; a shadow run or a ``promote`` command can use it the same way.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from edge_runtime.bundle import MANIFEST_NAME, Manifest, load_bundle
from edge_runtime.errors import BundleError
from edge_runtime.fleet.config import TrustConfig
from edge_runtime.signing import Signer, check_signature, manifest_digest

log = logging.getLogger(__name__)

ID_CHARS = 16  # folder names: the first 16 hex digits of the manifest's sha256


@dataclass(frozen=True)
class StoredBundle:
    id: str  # sha256 of manifest.json
    path: Path
    manifest: Manifest
    signer: Signer | None


@dataclass(frozen=True)
class FailedBundle:
    reason: str
    attempt: str


class BundleStore:
    """Bundles kept on the device, with ``current`` and ``previous`` switched by atomic renames."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()

    @property
    def incoming(self) -> Path:
        """Staging folder (same file system as the store, so a finished bundle moves in by rename)."""
        path = self.root / "incoming"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def add(self, source: Path, trust: TrustConfig, *, expect: str | None = None) -> StoredBundle:
        """Verify the bundle at ``source`` (folder or ``.tar.gz``) and keep a copy; BundleError if it fails.

        ``expect``: the manifest sha256 the bundle must have (what a rollout asked for).
        """
        stage = Path(tempfile.mkdtemp(prefix="add-", dir=self.incoming))
        try:
            copy = stage / source.name
            if source.is_dir():
                shutil.copytree(source, copy, symlinks=True)  # verify the copy, never the shared original
            else:
                shutil.copy2(source, copy)
            bundle = load_bundle(copy)  # every file's sha256; an archive is unpacked inside the stage
            signer = check_signature(bundle.root, trust, label=str(source))
            digest = manifest_digest(bundle.root)
            if expect is not None and digest != expect:
                raise BundleError(
                    f"{source}: manifest sha256 {digest[:16]}... is not the {expect[:16]}... asked for"
                )
            target = self._folder(digest)
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                bundle.root.rename(target)
            return StoredBundle(digest, target, load_bundle(target, verify="none").manifest, signer)
        except OSError as exc:
            raise BundleError(f"{source}: cannot copy the bundle into {self.root} ({exc})") from exc
        finally:
            shutil.rmtree(stage, ignore_errors=True)

    def get(self, bundle_id: str) -> Path | None:
        path = self._folder(bundle_id)
        return path if (path / MANIFEST_NAME).is_file() else None

    def current(self) -> Path | None:
        return self._target("current")

    def previous(self) -> Path | None:
        return self._target("previous")

    def current_id(self) -> str | None:
        path = self.current()
        return manifest_digest(path) if path else None

    def activate(self, bundle_id: str) -> None:
        """``previous`` := ``current``, then ``current`` := the bundle (a crash between: both old)."""
        target = self.get(bundle_id)
        if target is None:
            raise BundleError(f"{self.root}: no bundle {bundle_id[:16]} in the store")
        with self._lock:
            now = self.current()
            if now is not None and now != target:
                self._link("previous", now)
            self._link("current", target)

    def rollback(self) -> Path:
        """``current`` := ``previous`` (which stays, so a second rollback is a no-op)."""
        with self._lock:
            before = self.previous()
            if before is None:
                raise BundleError(f"{self.root}: no previous bundle to roll back to")
            self._link("current", before)
            return before

    def mark_failed(self, bundle_id: str, reason: str, attempt: str = "") -> None:
        """Remember that the bundle failed here (``attempt``: e.g. the rollout that asked for it)."""
        failed = self.failed()
        failed[bundle_id] = FailedBundle(reason, attempt)
        self._write_json("failed.json", {key: vars(value) for key, value in failed.items()})

    def failed(self) -> dict[str, FailedBundle]:
        """Bundles that failed their health check here: bundle id -> why, and in which attempt."""
        path = self.root / "failed.json"
        if not path.is_file():
            return {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return {str(key): FailedBundle(str(v["reason"]), str(v["attempt"])) for key, v in data.items()}
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return {}  # a damaged record only means a failed bundle may be tried once more

    def prune(self) -> None:
        """Delete bundles that are neither current nor previous, and leftovers of interrupted adds."""
        keep = {self.current(), self.previous()}
        folder = self.root / "bundles"
        for path in folder.iterdir() if folder.is_dir() else []:
            if path.resolve() not in keep:
                shutil.rmtree(path, ignore_errors=True)

    def _folder(self, bundle_id: str) -> Path:
        return self.root / "bundles" / bundle_id[:ID_CHARS]

    def _target(self, name: str) -> Path | None:
        link = self.root / name
        return link.resolve() if link.is_symlink() and link.exists() else None

    def _link(self, name: str, target: Path) -> None:
        temporary = self.root / f".{name}.new"
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(target.relative_to(self.root))
        os.replace(temporary, self.root / name)  # a rename: readers see the old link or the new one

    def _write_json(self, name: str, data: object) -> None:
        path = self.root / name
        self.root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=self.root, prefix=f".{name}.", delete=False) as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
        os.replace(handle.name, path)


@dataclass(frozen=True)
class Health:
    """A runner's verdict on the bundle it runs: still ``starting``, ``healthy``, or ``unhealthy`` and why."""

    state: Literal["starting", "healthy", "unhealthy"]
    reason: str = ""


class Runner(Protocol):
    """What ``BundleSwitch`` drives: the daemon's pipeline on one bundle at a time."""

    def start(self, bundle: Path) -> None: ...

    def stop(self) -> None: ...

    def health(self) -> Health: ...


@dataclass(frozen=True)
class SwitchOutcome:
    bundle_id: str
    status: Literal["active", "rolled_back", "unchanged"]
    reason: str = ""


class BundleSwitch:
    """Switch ``runner`` to a stored bundle; keep it when healthy within ``window_s``, else roll back."""

    def __init__(
        self,
        store: BundleStore,
        runner: Runner,
        window_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        wait: Callable[[float], object] = time.sleep,
        poll_s: float = 0.2,
    ) -> None:
        self.store, self.runner, self.window_s = store, runner, window_s
        self._clock, self._wait, self._poll_s = clock, wait, poll_s

    def switch(self, bundle_id: str, attempt: str = "") -> SwitchOutcome:
        """Run the stored bundle ``bundle_id``; ``attempt`` is recorded if it fails (e.g. a rollout id)."""
        if bundle_id == self.store.current_id():
            return SwitchOutcome(bundle_id, "unchanged")
        self.runner.stop()
        self.store.activate(bundle_id)
        log.info("switched to bundle %s; watching its health for %.0f s", bundle_id[:16], self.window_s)
        self.runner.start(self._current())
        started = self._clock()
        verdict = self.watch()
        if verdict.state == "healthy":
            log.info("bundle %s healthy after %.1f s", bundle_id[:16], self._clock() - started)
            return SwitchOutcome(bundle_id, "active")
        log.error("bundle %s is unhealthy (%s): rolling back", bundle_id[:16], verdict.reason)
        self.store.mark_failed(bundle_id, verdict.reason, attempt)
        self.runner.stop()
        self.store.rollback()
        self.runner.start(self._current())
        return SwitchOutcome(bundle_id, "rolled_back", verdict.reason)

    def watch(self) -> Health:
        """The runner's health once it has decided, or ``unhealthy`` when the window ends first."""
        deadline = self._clock() + self.window_s
        while True:
            verdict = self.runner.health()
            if verdict.state != "starting":
                return verdict
            if self._clock() >= deadline:
                return Health(
                    "unhealthy", f"not healthy within {self.window_s:g} s ({verdict.reason or 'starting'})"
                )
            self._wait(self._poll_s)

    def _current(self) -> Path:
        current = self.store.current()
        if current is None:
            raise BundleError(f"{self.store.root}: no current bundle")
        return current
