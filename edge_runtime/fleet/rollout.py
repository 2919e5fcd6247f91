"""A staged rollout over the broker: canaries first, the rest of the group only once they stay healthy.

State machine (docs/fleet.md): ``canary`` -> the canaries' own desired topics name the new bundle;
they must run it, healthy, for ``hold_s`` within ``timeout_s``. Any canary that rolls back, rejects
the bundle or turns unhealthy, or the timeout, ends in ``rolled_back``: the canaries are sent back
to the bundle each ran before (which every device keeps), and once they report it their own topics
are cleared. Otherwise ``rest``: the group's retained desired topic names the new bundle (a device
offline now reads it when it returns), the canaries' topics are cleared, and the rollout waits for
every online device of the group; ``done`` when all run it, ``failed`` when some rolled back (each
keeps its old bundle). Progress is published retained on ``{prefix}/groups/{group}/rollout``.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from edge_runtime.bundle_switch import BundleStore
from edge_runtime.errors import BundleError, ConfigError
from edge_runtime.events import utc_iso
from edge_runtime.fleet.config import TrustConfig
from edge_runtime.fleet.fetch import FetchError, fetch, is_http, sha256_file
from edge_runtime.fleet.messages import BundleInfo, DesiredBundle, RolloutMessage, RolloutPhase
from edge_runtime.fleet.view import FleetView, moved

Publish = Callable[[str, str], None]  # (topic, payload) retained, QoS 1; "" clears the topic


@dataclass(frozen=True)
class RolloutPlan:
    group: str
    canary: str = "10%"  # a share of the group's online devices ("10%") or a count ("2"); "0": no canary
    hold_s: float = 60.0  # how long every canary must stay healthy on the new bundle
    timeout_s: float = 600.0  # the most each phase may take


def canary_count(spec: str, online: int) -> int:
    """How many canaries: at least one when any is asked for, never more than the online devices."""
    try:
        wanted = math.ceil(online * float(spec[:-1]) / 100) if spec.endswith("%") else int(spec)
    except ValueError as exc:
        raise ConfigError(f"--canary {spec!r}: expected a share like 10% or a count like 2") from exc
    if wanted < 0 or (spec.endswith("%") and not 0 <= float(spec[:-1]) <= 100):
        raise ConfigError(f"--canary {spec!r}: must be 0..100% or a count >= 0")
    return min(max(wanted, 1 if float(spec.rstrip("%")) > 0 else 0), online)


def prepare(bundle: str, trust: TrustConfig, staging: Path, *, timeout_s: float = 60.0) -> DesiredBundle:
    """Check the bundle as a device will (hashes, signature) and describe it for the devices.

    ``bundle``: an http(s) URL of a ``.tar.gz``, or a folder or ``.tar.gz`` on the shared volume.
    An unsigned bundle is refused: the devices of a fleet would refuse it too.
    """
    local = _download(bundle, staging, timeout_s) if is_http(bundle) else Path(bundle).resolve()
    if not local.exists():
        raise BundleError(f"{bundle}: not found")
    stored = BundleStore(staging / "check").add(local, trust)
    if stored.signer is None:
        raise BundleError(f"{bundle}: unsigned; sign it (python -m export sign) before a rollout")
    return DesiredBundle(
        rollout=f"r{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}",
        bundle_id=stored.id,
        name=stored.manifest.name,
        version=stored.manifest.version,
        url=bundle if is_http(bundle) else str(local),
        archive_sha256=sha256_file(local) if local.is_file() else None,
        published=utc_iso(time.time()),
    )


def _download(url: str, staging: Path, timeout_s: float, attempts: int = 5) -> Path:
    """The bundle at ``url``, resuming a cut transfer up to ``attempts`` times."""
    for attempt in range(attempts - 1):
        try:
            return fetch(url, staging, timeout_s=timeout_s)
        except FetchError:
            time.sleep(min(2.0**attempt, 10.0))
    try:
        return fetch(url, staging, timeout_s=timeout_s)
    except FetchError as exc:
        raise BundleError(f"{url}: cannot be downloaded ({exc})") from exc


@dataclass(frozen=True)
class Outcome:
    phase: RolloutPhase
    devices: dict[str, str]  # device -> what it did
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.phase == "done"


class Rollout:
    """One rollout of one bundle to one group, driven over a ``FleetView`` and a retained ``publish``."""

    def __init__(
        self,
        view: FleetView,
        publish: Publish,
        plan: RolloutPlan,
        *,
        clock: Callable[[], float] = time.monotonic,
        say: Callable[[str], None] = print,
    ) -> None:
        self.view, self.publish, self.plan, self.topics = view, publish, plan, view.topics
        self._clock, self._say = clock, say

    def run(self, desired: DesiredBundle) -> Outcome:
        group = self._group()
        if not group:
            raise ConfigError(f"--to {self.plan.group}: no device of that group has reported to the broker")
        online = sorted(name for name, up in group.items() if up)
        if not online and canary_count(self.plan.canary, 1):
            raise ConfigError(f"--to {self.plan.group}: no device of the group is online to be a canary")
        canaries = online[: canary_count(self.plan.canary, len(online))]
        before = {name: self._bundle(name) for name in canaries}
        self._say(
            f"rollout {desired.rollout}: {desired.name} {desired.version} to group {self.plan.group} "
            f"({len(online)} online of {len(group)}); canaries: {', '.join(canaries) or 'none'}"
        )
        if canaries:
            self._progress(desired, "canary", canaries, {})
            for name in canaries:
                self.publish(self.topics.device(name, "desired"), desired.model_dump_json())
            failure = self._watch_canaries(desired, canaries)
            if failure:
                self._say(f"canaries failed ({failure}): rolling them back")
                return self._roll_back(desired, canaries, before, failure)
            self._say(f"canaries healthy for {self.plan.hold_s:g} s: rolling out to the rest of the group")
        self.publish(self.topics.group(self.plan.group, "desired"), desired.model_dump_json())
        for name in canaries:
            self.publish(self.topics.device(name, "desired"), "")
        self._progress(desired, "rest", canaries, {})
        devices = self._watch_rest(desired)
        failed = {name: status for name, status in devices.items() if status not in ("active", "offline")}
        phase: RolloutPhase = "failed" if failed else "done"
        reason = "; ".join(f"{name}: {status}" for name, status in failed.items())
        self._progress(desired, phase, canaries, devices, reason)
        return Outcome(phase, devices, reason)

    def _group(self) -> dict[str, bool]:
        """The group's devices that have reported -> whether each is online now."""
        return {
            row.device: bool(row.online and row.message.online)
            for row in self.view.rows()
            if row.message is not None and row.message.group == self.plan.group
        }

    def _bundle(self, name: str) -> BundleInfo | None:
        row = self.view.row(name)
        return row.message.bundle if row is not None and row.message is not None else None

    def _reports(self, name: str, rollout: str, bundle: str) -> bool:
        """The device says it runs ``bundle`` as asked by ``rollout``."""
        row = self.view.row(name)
        m = row.message if row is not None else None
        return (
            m is not None
            and m.rollout is not None
            and (m.rollout.rollout, m.rollout.status) == (rollout, "active")
            and m.bundle is not None
            and m.bundle.id == bundle
        )

    def _status(self, name: str, desired: DesiredBundle) -> tuple[str, str]:
        """("active" | "waiting" | "offline" | "failed", why) of a device against ``desired``."""
        row = self.view.row(name)
        if row is None or row.message is None:
            return "waiting", "no state yet"
        m = row.message
        if (
            m.rollout is not None
            and m.rollout.rollout == desired.rollout
            and m.rollout.status
            in (
                "rolled_back",
                "rejected",
            )
        ):
            return "failed", f"{m.rollout.status}: {m.rollout.reason}"
        if not row.online or not m.online:
            return "offline", "offline"
        if m.bundle is not None and m.bundle.id == desired.bundle_id and m.state == "running":
            if m.health == "unhealthy":
                return "failed", f"unhealthy: {m.health_reason}"
            if m.health == "healthy":
                return "active", ""
        return (
            "waiting",
            m.rollout.status if m.rollout and m.rollout.rollout == desired.rollout else "waiting",
        )

    def _watch_canaries(self, desired: DesiredBundle, canaries: list[str]) -> str:
        """ "" once every canary has run the bundle healthy for ``hold_s``; else why not."""
        healthy_since: dict[str, float] = {}
        deadline = self._clock() + self.plan.timeout_s
        while True:
            now = self._clock()
            for name in canaries:
                status, why = self._status(name, desired)
                if status == "failed":
                    return f"{name} {why}"
                if status == "active":
                    healthy_since.setdefault(name, now)
                else:
                    healthy_since.pop(name, None)
            if all(now - healthy_since.get(name, math.inf) >= self.plan.hold_s for name in canaries):
                return ""
            if now >= deadline:
                waiting = [name for name in canaries if name not in healthy_since]
                within = f"{self.plan.hold_s:g} s within {self.plan.timeout_s:g} s"
                return f"not healthy for {within}: {', '.join(waiting)}"
            self._pause()

    def _roll_back(
        self, desired: DesiredBundle, canaries: list[str], before: dict[str, BundleInfo | None], failure: str
    ) -> Outcome:
        devices: dict[str, str] = {}
        back = {
            name: info for name, info in before.items() if info is not None and info.id != desired.bundle_id
        }
        rollback = f"{desired.rollout}-rollback"
        for name, info in back.items():
            previous = DesiredBundle(
                rollout=rollback,
                bundle_id=info.id,
                name=info.name,
                version=info.version,
                url=None,  # every device keeps its previous bundle
                published=utc_iso(time.time()),
            )
            self.publish(self.topics.device(name, "desired"), previous.model_dump_json())
        deadline = self._clock() + self.plan.timeout_s
        while True:
            for name, info in back.items():
                # back only once the device has read the rollback (it may still be switching to the new one)
                if name not in devices and self._reports(name, rollback, info.id):
                    devices[name] = "rolled_back"
                    self.publish(self.topics.device(name, "desired"), "")  # back on the group's desired state
            if len(devices) == len(back) or self._clock() >= deadline:
                break
            self._pause()
        for name in canaries:
            devices.setdefault(name, "not back yet (its desired topic still names the previous bundle)")
        self._progress(desired, "rolled_back", canaries, devices, failure)
        return Outcome("rolled_back", devices, failure)

    def _watch_rest(self, desired: DesiredBundle) -> dict[str, str]:
        deadline = self._clock() + self.plan.timeout_s
        while True:
            devices = {}
            for name, online in self._group().items():
                status, why = self._status(name, desired)
                devices[name] = why if status == "failed" else status if online else "offline"
            if all(status != "waiting" for status in devices.values()) or self._clock() >= deadline:
                return devices
            self._pause()

    def _pause(self) -> None:
        """Until the next device message, at most half a second."""
        self.view.wait(partial(moved, self.view, self.view.updates), 0.5)

    def _progress(
        self,
        desired: DesiredBundle,
        phase: RolloutPhase,
        canaries: list[str],
        devices: dict[str, str],
        reason: str = "",
    ) -> None:
        message = RolloutMessage(
            rollout=desired.rollout,
            group=self.plan.group,
            bundle_id=desired.bundle_id,
            name=desired.name,
            version=desired.version,
            phase=phase,
            canaries=canaries,
            devices=devices,
            reason=reason,
            ts=utc_iso(time.time()),
        )
        self.publish(self.topics.group(self.plan.group, "rollout"), message.model_dump_json())
