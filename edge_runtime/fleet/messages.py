"""The fleet's MQTT contract: its topics and the typed messages on them (schemas in docs/events/fleet_*).

Every device publishes its state (retained) and an availability topic with a last will; a rollout
publishes the desired bundle per group, or per device for canaries and rollbacks (retained, so a
device that was offline reads it when it connects again), and its own progress. An empty retained
payload clears a topic (MQTT's way to delete a retained message).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from edge_runtime.event_models.fields import Name, Timestamp, json_schema_of

Digest = Annotated[
    str, Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of the bundle's manifest.json: its identity")
]

ONLINE, OFFLINE = "online", "offline"
RolloutStatus = Literal["fetching", "switching", "active", "rolled_back", "rejected", "failed"]
DeviceHealth = Literal["starting", "healthy", "unhealthy"]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1


class BundleInfo(_Message):
    """A bundle as a device runs it: what it is and who signed it."""

    id: Digest
    name: str
    version: str
    task: str
    signer: str | None = Field(description="the trusted key's name; None: unsigned")
    key_id: str | None = Field(description="the signing key's id (sha256 of the public key, 16 hex)")


class SourceInfo(_Message):
    name: Name
    state: str = Field(description="as the camera/machine state topics' state")
    conditions: list[str] = Field(default_factory=list, description="raised camera-health conditions")


class Capacity(_Message):
    """How busy the box is: what it processes and what its CPUs carry."""

    fps: float = Field(ge=0, description="frames (and signal windows) run through the model per second")
    infer_p50_ms: float | None = Field(ge=0, description="median inference latency, ms")
    cpu_count: int = Field(ge=1)
    load_1m: float | None = Field(ge=0, description="the OS load average over one minute")


class RolloutInfo(_Message):
    """Where this device stands with the desired bundle it was last asked to run."""

    rollout: str = Field(min_length=1)
    bundle_id: Digest
    status: RolloutStatus = Field(
        description="fetching, switching (health window), active, rolled_back (failed its health check: "
        "the previous bundle runs again), rejected (signature, hashes or digest wrong: never run), "
        "failed (could not be fetched: retried)"
    )
    reason: str = ""
    ts: Timestamp


class DeviceMessage(_Message):
    """Retained on ``{fleet.topic}/devices/{device}/state``: one edge box, as ``fleet status`` shows it."""

    device: Name
    group: Name
    software_version: str
    online: bool = Field(description="false only in the last message of a clean stop")
    state: Literal["running", "switching", "stopped"]
    health: DeviceHealth
    health_reason: str = ""
    bundle: BundleInfo | None = Field(description="the bundle that runs now")
    previous_bundle: BundleInfo | None = Field(description="kept for a rollback")
    artifact: str = Field(description="the artifact that runs, e.g. onnx-fp32")
    recommended_artifact: str | None = Field(description="the bundle's recommended artifact")
    cameras: list[SourceInfo]
    machines: list[SourceInfo]
    capacity: Capacity
    outbox_depth: int = Field(ge=0, description="events not yet delivered to every sink")
    rollout: RolloutInfo | None
    last_seen: Timestamp


class DesiredBundle(_Message):
    """Retained on ``{fleet.topic}/groups/{group}/desired`` or ``.../devices/{device}/desired`` (wins)."""

    rollout: str = Field(min_length=1, description="the rollout's id; a device tries each at most once")
    bundle_id: Digest
    name: str
    version: str
    url: str | None = Field(
        min_length=1,
        description="http(s) URL of a .tar.gz, or a path (folder or .tar.gz) on a shared volume; "
        "None: a bundle the device keeps (a rollback to its previous one)",
    )
    archive_sha256: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{64}$",
        description="the archive's sha256, checked before it is unpacked",
    )
    published: Timestamp


RolloutPhase = Literal["canary", "rest", "done", "rolled_back", "failed"]


class RolloutMessage(_Message):
    """Retained on ``{fleet.topic}/groups/{group}/rollout``: the newest rollout's progress."""

    rollout: str
    group: Name
    bundle_id: Digest
    name: str
    version: str
    phase: RolloutPhase
    canaries: list[Name]
    devices: dict[str, str] = Field(description="device -> its rollout status (or offline)")
    reason: str = ""
    ts: Timestamp


@dataclass(frozen=True)
class FleetTopics:
    """Topic names under one prefix (``fleet.topic``, default ``adit/fleet``)."""

    prefix: str = "adit/fleet"

    def device(self, device: str, leaf: Literal["state", "status", "desired"]) -> str:
        return f"{self.prefix}/devices/{device}/{leaf}"

    def group(self, group: str, leaf: Literal["desired", "rollout"]) -> str:
        return f"{self.prefix}/groups/{group}/{leaf}"

    def every_device(self, leaf: Literal["state", "status"]) -> str:
        return f"{self.prefix}/devices/+/{leaf}"

    def parse_device(self, topic: str) -> tuple[str, str] | None:
        """``(device, leaf)`` of a device topic, None for any other."""
        head = f"{self.prefix}/devices/"
        if not topic.startswith(head):
            return None
        device, _, leaf = topic[len(head) :].partition("/")
        return (device, leaf) if device and leaf else None


def fleet_schemas() -> dict[str, dict[str, Any]]:
    """The fleet messages' JSON Schemas, published beside the events' (docs/events/fleet_*.schema.json)."""
    return {
        "fleet_device": json_schema_of("adit fleet device state", DeviceMessage, "fleet_device"),
        "fleet_desired": json_schema_of("adit fleet desired bundle", DesiredBundle, "fleet_desired"),
        "fleet_rollout": json_schema_of("adit fleet rollout progress", RolloutMessage, "fleet_rollout"),
    }
