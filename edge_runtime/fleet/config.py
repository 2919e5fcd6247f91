"""The site configuration's ``trust`` and ``fleet`` sections (typed, validated at start-up, read-only).

Kept apart from ``edge_runtime.config`` so the fleet grows without touching the daemon's own
sections; ``SiteConfig`` only names them. Importing this module imports pydantic and nothing else.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

DEVICE_GROUP_PATTERN = r"^[A-Za-z0-9_.-]+$"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TrustedKey(_Section):
    """One public key whose signatures this device accepts (PEM, as ``signing keygen`` writes it)."""

    name: str = Field(pattern=DEVICE_GROUP_PATTERN, description="shown as the bundle's signer")
    public_key: Path = Field(description="PEM file of an Ed25519 public key")


class TrustConfig(_Section):
    """Which signers this device trusts. With at least one key, unsigned bundles and unknown signers
    are refused at start-up and by the fleet; with none, bundles are checked by their hashes only."""

    keys: list[TrustedKey] = Field(default_factory=list)

    @property
    def required(self) -> bool:
        return bool(self.keys)


class FleetHealthConfig(_Section):
    """What a freshly switched bundle must show before it counts as healthy (else: rolled back)."""

    window_s: float = Field(default=60.0, gt=0, description="time the new bundle has to become healthy")
    min_frames: int = Field(
        default=3, ge=1, description="frames (or signal windows) it must have run the model on"
    )


class FetchConfig(_Section):
    """Downloads of desired bundles: interrupted HTTP transfers resume with a Range request."""

    timeout_s: float = Field(default=30.0, gt=0, description="a stalled connection is dropped after this")
    retry_min_s: float = Field(default=1.0, gt=0)
    retry_max_s: float = Field(default=60.0, gt=0)


class FleetConfig(_Section):
    """This daemon as one device of a fleet managed over the MQTT broker of ``sinks.mqtt``.

    The device id is ``sinks.mqtt.client_id``. With the fleet on, the bundle that runs is the store's
    current one; ``model.bundle`` only seeds an empty store.
    """

    group: str = Field(default="default", pattern=DEVICE_GROUP_PATTERN, description="rollouts target groups")
    topic: str = Field(default="adit/fleet", pattern=r"^[^#+]+$", description="prefix of the fleet's topics")
    store: Path = Field(default=Path("runs/demo/fleet"), description="bundles kept on the device")
    every_s: float = Field(default=1.0, gt=0, le=60, description="how often the device state is read")
    heartbeat_s: float = Field(
        default=10.0, gt=0, description="the state is re-sent this often even unchanged (last_seen, outbox)"
    )
    health: FleetHealthConfig = FleetHealthConfig()
    fetch: FetchConfig = FetchConfig()
