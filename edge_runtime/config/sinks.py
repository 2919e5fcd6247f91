"""Where events go: the durable outbox and the sinks it delivers to (JSONL, MQTT, webhook)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from edge_runtime.config.base import TOPIC, Section


class JsonlSinkConfig(Section):
    path: Path = Path("runs/demo/events/events.jsonl")


class MqttTlsConfig(Section):
    """TLS to the broker; without ``ca_file`` the system's certificate store is used."""

    ca_file: Path | None = None
    cert_file: Path | None = Field(default=None, description="client certificate (mutual TLS)")
    key_file: Path | None = None
    insecure: bool = Field(default=False, description="skip hostname verification (test benches only)")


class MqttStateConfig(Section):
    """Retained state topics a PLC or Node-RED reads: ``{topic}/{client_id}/camera|machine|belt/{name}``."""

    topic: str = Field(default="adit/state", pattern=r"^[^#+]+$", description="prefix; the device: client_id")
    every_s: float = Field(default=1.0, gt=0, le=60, description="how often state is read (sent if changed)")


class MqttSinkConfig(Section):
    """Events published with QoS 1 to ``{topic}/{camera}/{type}``; a retained availability topic."""

    host: str = Field(default="localhost", min_length=1)
    port: int = Field(default=1883, gt=0, lt=65536)
    client_id: str = Field(
        default="adit-edge", pattern=r"^[A-Za-z0-9_.-]+$", description="fixed, for a persistent session"
    )
    topic: str = Field(default="adit/events", pattern=TOPIC, max_length=1024)
    availability_topic: str = Field(
        default="adit/status/{device}",
        pattern=TOPIC,
        max_length=1024,
        description='retained "online"; last will "offline"; {device} is replaced by client_id '
        "(it was the shared adit/status before the fleet: set that to keep it)",
    )
    username: str | None = None
    password: SecretStr | None = None
    tls: MqttTlsConfig | None = None
    keepalive_s: int = Field(default=30, ge=5)
    publish_timeout_s: float = Field(default=5.0, gt=0, description="wait for the broker's PUBACK")
    state: MqttStateConfig | None = Field(
        default=MqttStateConfig(), description="retained state topics beside the events; null: none"
    )
    resubscribe_grace_s: float = Field(
        default=2.0,
        ge=0,
        description="after connecting to a broker that kept no session (restarted without persistence), "
        "wait this long before publishing, so subscribers can re-subscribe first",
    )


class WebhookSinkConfig(Section):
    """Each event POSTed as JSON; any 2xx answer counts as delivered."""

    url: str = Field(pattern=r"^https?://")
    timeout_s: float = Field(default=5.0, gt=0)
    headers: dict[str, SecretStr] = Field(
        default_factory=dict, description="e.g. Authorization; never logged"
    )


class SinksConfig(Section):
    """Where events are delivered; each sink is enabled by its section."""

    jsonl: JsonlSinkConfig | None = JsonlSinkConfig()
    mqtt: MqttSinkConfig | None = None
    webhook: WebhookSinkConfig | None = None


class OutboxConfig(Section):
    """The durable queue between rules and sinks: every event is committed here before delivery."""

    path: Path = Field(default=Path("runs/demo/outbox.sqlite"), description="SQLite database (WAL)")
    max_events: int = Field(
        default=100_000, gt=0, description="bound; beyond it the OLDEST undelivered events are dropped"
    )
    retry_min_s: float = Field(default=0.5, gt=0, description="first back-off after a failed delivery")
    retry_max_s: float = Field(default=30.0, gt=0)
    drain_timeout_s: float = Field(
        default=10.0, ge=0, description="at shutdown, how long sinks may catch up before the rest waits"
    )
    max_attempts: int = Field(
        default=5,
        ge=1,
        description="a sink that refuses one event this many times (HTTP 400/413/422, an invalid topic, an "
        "unreadable row) moves it to the dead-letter table and goes on; outages are retried forever",
    )
