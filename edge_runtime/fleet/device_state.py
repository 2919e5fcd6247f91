"""The device's fleet state message, read from the running pipeline, the bundle store and the rollout.

``DeviceReporter.message`` is cheap (a few dicts and a manifest read once per bundle), so the agent
calls it every ``fleet.every_s`` and publishes only what changed, plus a heartbeat for ``last_seen``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from edge_runtime import __version__
from edge_runtime.bundle import Manifest, read_manifest
from edge_runtime.bundle_switch import BundleStore
from edge_runtime.errors import AditError
from edge_runtime.events import utc_iso
from edge_runtime.fleet.config import TrustConfig
from edge_runtime.fleet.host import PipelineHost
from edge_runtime.fleet.messages import BundleInfo, Capacity, DeviceMessage, RolloutInfo, SourceInfo
from edge_runtime.observe import DaemonView
from edge_runtime.signing import check_signature, manifest_digest


def recommended_artifact(manifest: Manifest) -> str | None:
    """What the bundle recommends where a site names no artifact (export's choice, else the first shipped)."""
    if manifest.recommended is not None:
        return manifest.recommended.artifact
    return next((a.key for a in manifest.artifacts if a.status == "shipped"), None)


def bundle_info(path: Path, trust: TrustConfig) -> tuple[BundleInfo, Manifest]:
    """What a stored bundle is and who signed it (AditError if it no longer verifies)."""
    manifest = read_manifest(path)
    signer = check_signature(path, trust)
    info = BundleInfo(
        id=manifest_digest(path),
        name=manifest.name,
        version=manifest.version,
        task=manifest.task,
        signer=signer.name if signer else None,
        key_id=signer.key_id if signer else None,
    )
    return info, manifest


class DeviceReporter:
    """Builds ``DeviceMessage``; keeps the last frame count to report the rate since the previous call."""

    def __init__(
        self,
        device: str,
        group: str,
        host: PipelineHost,
        store: BundleStore,
        trust: TrustConfig,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.device, self.group, self.host, self.store, self.trust = device, group, host, store, trust
        self._clock = clock
        self._last: tuple[float, int] | None = None
        self._bundles: dict[Path, tuple[BundleInfo, Manifest] | None] = {}  # a stored bundle never changes

    def message(
        self, rollout: RolloutInfo | None, state: Literal["running", "switching", "stopped"]
    ) -> DeviceMessage:
        view, health = self.host.view, self.host.health()
        current, previous = self._info(self.host.bundle), self._info(self.store.previous())
        cameras: list[SourceInfo] = []
        machines: list[SourceInfo] = []
        if view is not None:
            cameras = [
                SourceInfo(name=c.name, state=c.summary_state(), conditions=list(c.state()["conditions"]))
                for c in view.cameras
            ]
            machines = [
                SourceInfo(name=m.config.name, state=_machine_state(m.state())) for m in view.machines
            ]
        return DeviceMessage(
            device=self.device,
            group=self.group,
            software_version=__version__,
            online=state != "stopped",
            state=state,
            health=health.state,
            health_reason=health.reason,
            bundle=current[0] if current else None,
            previous_bundle=previous[0] if previous and previous[0] != (current and current[0]) else None,
            artifact=view.artifact if view is not None else "",
            recommended_artifact=recommended_artifact(current[1]) if current else None,
            cameras=cameras,
            machines=machines,
            capacity=self._capacity(view),
            outbox_depth=view.outbox.depth() if view is not None else 0,
            rollout=rollout,
            last_seen=utc_iso(time.time()),
        )

    def _info(self, path: Path | None) -> tuple[BundleInfo, Manifest] | None:
        if path is None:
            return None
        if path not in self._bundles:
            try:
                self._bundles[path] = bundle_info(path, self.trust)
            except AditError:
                self._bundles[path] = None  # one that no longer verifies is reported as none, never as good
        return self._bundles[path]

    def _capacity(self, view: DaemonView | None) -> Capacity:
        now, processed = self._clock(), self.host.processed()
        since, before = self._last or (now, processed)
        if processed < before:  # a new run (a switch): its frames since it started
            since, before = self.host.started_at, 0
        fps = (processed - before) / (now - since) if now > since else 0.0
        self._last = (now, processed)
        infer = view.timers.summary().get("infer") if view is not None else None
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        return Capacity(
            fps=round(fps, 1),
            infer_p50_ms=round(infer.p50_ms, 1) if infer else None,
            cpu_count=os.cpu_count() or 1,
            load_1m=round(load, 1) if load is not None else None,
        )


def _machine_state(state: dict[str, object]) -> str:
    return "ended" if state["ended"] else "error" if state["error"] else "running"


def unchanged(a: DeviceMessage, b: DeviceMessage | None) -> bool:
    """Equal but for the moving parts that alone do not warrant a message (last_seen, rates, load, the
    outbox's exact depth: a backlog appearing or clearing does count)."""
    if b is None:
        return False
    moving = {"last_seen", "capacity", "outbox_depth"}
    backlog = (a.outbox_depth > 0) == (b.outbox_depth > 0)
    return backlog and a.model_dump(exclude=moving) == b.model_dump(exclude=moving)
