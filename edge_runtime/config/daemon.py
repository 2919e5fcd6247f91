"""The daemon's own services: its HTTP endpoint and OPC UA server, the watchdog, and snapshots."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import Field, SecretStr, model_validator

from edge_runtime.config.base import Section


class WatchdogConfig(Section):
    """When a stage counts as hung: /healthz turns red and systemd's watchdog is no longer petted."""

    stall_s: float = Field(
        default=60.0,
        gt=0,
        description="a stage (inference, a sink's delivery) busy this long is stalled; keep it above "
        "the sinks' timeouts and the first inference's warm-up",
    )
    no_progress_s: float = Field(
        default=20.0,
        gt=0,
        description="a sink that delivers nothing this long while events wait turns /healthz red; one whose "
        "delivery loop does not even try (dead or wedged) also stops the watchdog",
    )


class HttpConfig(Section):
    """The daemon's one HTTP endpoint: the dashboard, /healthz, /metrics (Prometheus), /status (JSON)."""

    enabled: bool = True
    host: str = Field(default="127.0.0.1", description="localhost only unless you mean it")
    port: int = Field(default=8390, ge=0, lt=65536, description="0 = any free port (logged)")
    token: SecretStr | None = Field(
        default=None,
        min_length=16,
        description="required unless host is a loopback address; browsers open /?token=..., "
        "scrapers send 'Authorization: Bearer ...'",
    )
    live_fps: float = Field(
        default=5.0, gt=0, le=30, description="most frames per second a live view is sent and encoded"
    )
    live_width: int = Field(default=960, ge=160, description="live frames are scaled down to this width")
    acks_path: Path | None = Field(
        default=None,
        description="the control room's acknowledgements (SQLite); None: acks.sqlite by the outbox",
    )
    benchmark: Path | None = Field(
        default=Path("runs/demo/bench/results.json"),
        description="benchmark results.json shown on the model page when the file exists",
    )

    @model_validator(mode="after")
    def _token_off_loopback(self) -> HttpConfig:
        # Cameras and alarms of a mine are not for anyone on the network to watch.
        if self.enabled and self.token is None and not is_loopback(self.host):
            raise ValueError(
                f"http.token is required when http.host is {self.host!r} (not a loopback address): "
                "set a long random token, or host: 127.0.0.1"
            )
        return self


def is_loopback(host: str) -> bool:
    """True for localhost and 127.0.0.0/8, ::1; False for a wildcard, a LAN address or any other name."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class OpcUaConfig(Section):
    """SCADA: an OPC UA server with each camera's and machine's state as read-only nodes (off by default)."""

    enabled: bool = False
    host: str = Field(default="127.0.0.1", description="localhost only unless the SCADA network needs it")
    port: int = Field(default=4840, ge=0, lt=65536, description="OPC UA's port; 0 = any free port (logged)")
    namespace: str = Field(default="urn:adit:edge", min_length=1, description="namespace URI of adit's nodes")
    update_every_s: float = Field(default=1.0, gt=0, le=60, description="how often the nodes are refreshed")


class SnapshotConfig(Section):
    """JPEGs of the frames that start events, boxes and zones drawn, under a disk quota."""

    enabled: bool = False
    folder: Path = Path("runs/demo/snapshots")
    quota_mb: float = Field(default=500.0, gt=0, description="oldest snapshots are deleted beyond it")
    jpeg_quality: int = Field(default=85, ge=10, le=100)
