"""Every device of the fleet as the broker holds it: the retained state and availability topics, kept current.

``FleetView`` subscribes to ``{prefix}/devices/+/state`` and ``.../status``; the broker sends every
retained message at once, then each change as it happens, so ``fleet status``, the rollout and the
fleet page read the same live table. A device's ``online`` comes from its availability topic (its
last will turns it ``offline`` when the box dies), its details from its state message.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from pydantic import ValidationError

from edge_runtime.fleet.messages import OFFLINE, ONLINE, DeviceMessage, FleetTopics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Broker:
    """Where the fleet's broker is, and how to log in (the password comes from the environment)."""

    host: str = "localhost"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None

    @classmethod
    def parse(cls, text: str, **login: Any) -> Broker:
        """``HOST``, ``HOST:PORT`` or ``mqtt://HOST:PORT``."""
        host, _, port = text.removeprefix("mqtt://").removeprefix("mqtts://").rpartition(":")
        if not host:
            return cls(host=port, **login)
        if not port.isdigit():
            raise ValueError(f"--broker {text!r}: expected HOST or HOST:PORT")
        return cls(host=host, port=int(port), **login)

    def client(self, prefix: str) -> mqtt.Client:
        """A connected-asynchronously paho client with a unique id (a controller keeps no session)."""
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{prefix}-{uuid.uuid4().hex[:8]}")
        if self.username is not None:
            client.username_pw_set(self.username, self.password)
        if self.ca_file is not None:
            client.tls_set(ca_certs=str(self.ca_file), cert_reqs=ssl.CERT_REQUIRED)
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        return client


@dataclass(frozen=True)
class DeviceRow:
    device: str
    online: bool | None  # None: no availability message seen
    message: DeviceMessage | None


class FleetView:
    """The fleet's devices, updated from the broker on paho's thread; ``wait`` blocks on a condition."""

    def __init__(self, broker: Broker, topics: FleetTopics, client: mqtt.Client | None = None) -> None:
        self.topics = topics
        self._rows: dict[str, DeviceRow] = {}
        self._changed = threading.Condition()
        self.updates = 0
        self.client = client or broker.client("adit-fleet-view")
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self._broker = broker
        self.client.connect_async(broker.host, broker.port, keepalive=30)
        self.client.loop_start()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def rows(self) -> list[DeviceRow]:
        with self._changed:
            return [self._rows[name] for name in sorted(self._rows)]

    def row(self, device: str) -> DeviceRow | None:
        with self._changed:
            return self._rows.get(device)

    def wait(self, condition: Callable[[], bool], timeout_s: float) -> bool:
        """Until ``condition()`` holds (checked after every update) or ``timeout_s`` passes."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while not condition():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(min(left, 0.5))
            return True

    def settle(self, quiet_s: float = 0.5, most_s: float = 5.0) -> None:
        """Wait for the retained messages: until nothing arrived for ``quiet_s`` (at most ``most_s``)."""
        deadline = time.monotonic() + most_s
        seen = -1
        while time.monotonic() < deadline and seen != self.updates:
            seen = self.updates
            time.sleep(quiet_s)
        while not self.client.is_connected() and time.monotonic() < deadline:
            time.sleep(0.1)

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            log.error("broker %s:%d refused the connection: %s", self._broker.host, self._broker.port, reason)
            return
        client.subscribe([(self.topics.every_device("state"), 1), (self.topics.every_device("status"), 1)])

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        parsed = self.topics.parse_device(message.topic)
        if parsed is None:
            return
        device, leaf = parsed
        with self._changed:
            row = self._rows.get(device, DeviceRow(device, None, None))
            if leaf == "status":
                text = message.payload.decode(errors="replace")
                row = DeviceRow(device, text == ONLINE if text in (ONLINE, OFFLINE) else None, row.message)
            elif leaf == "state":
                row = DeviceRow(device, row.online, self._state(message))
            if row.online is None and row.message is None:
                self._rows.pop(device, None)  # both cleared: the device was removed from the fleet
            else:
                self._rows[device] = row
            self.updates += 1
            self._changed.notify_all()

    @staticmethod
    def _state(message: mqtt.MQTTMessage) -> DeviceMessage | None:
        if not message.payload:
            return None
        try:
            return DeviceMessage.model_validate_json(message.payload)
        except ValidationError as exc:
            log.warning("%s: not a device state message (%s)", message.topic, exc.errors()[0]["msg"])
            return None


def moved(view: FleetView, seen: int) -> bool:
    """A ``wait`` condition: a device message arrived since ``view.updates`` was ``seen``."""
    return view.updates != seen


COLUMNS = (
    "DEVICE",
    "GROUP",
    "ONLINE",
    "HEALTH",
    "BUNDLE",
    "SIGNER",
    "ARTIFACT",
    "CAMERAS",
    "FPS",
    "OUTBOX",
    "ROLLOUT",
    "LAST SEEN",
)


def row_cells(row: DeviceRow, now: datetime | None = None) -> list[str]:
    """One device as table cells (``fleet status`` and the fleet page)."""
    m = row.message
    online = {True: "yes", False: "NO", None: "?"}[row.online]
    if m is None:
        return [row.device, "?", online, *["-"] * (len(COLUMNS) - 3)]
    bundle = f"{m.bundle.name} {m.bundle.version} ({m.bundle.id[:8]})" if m.bundle else "-"
    signer = (m.bundle.signer or "unsigned") if m.bundle else "-"
    cameras = f"{sum(c.state == 'online' for c in m.cameras)}/{len(m.cameras)} ok" if m.cameras else "-"
    bad = [f"{c.name}:{c.state}" for c in m.cameras if c.state != "online"]
    rollout = f"{m.rollout.status} ({m.rollout.rollout})" if m.rollout else "-"
    health = (
        m.health if not m.health_reason or m.health == "healthy" else f"{m.health}: {m.health_reason[:40]}"
    )
    return [
        m.device,
        m.group,
        online,
        health,
        bundle,
        signer,
        m.artifact or "-",
        cameras + (f" [{', '.join(bad)}]" if bad else ""),
        f"{m.capacity.fps:.1f}",
        str(m.outbox_depth),
        rollout,
        _ago(m.last_seen, now),
    ]


def table(rows: list[DeviceRow], now: datetime | None = None) -> str:
    lines = [list(COLUMNS)] + [row_cells(row, now) for row in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS))]
    text = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    ]
    return "\n".join(text)


def _ago(timestamp: str, now: datetime | None) -> str:
    seconds = ((now or datetime.now(UTC)) - datetime.fromisoformat(timestamp)).total_seconds()
    return f"{max(seconds, 0):.0f} s ago" if seconds < 120 else f"{seconds / 60:.0f} min ago"
