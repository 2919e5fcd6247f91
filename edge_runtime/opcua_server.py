"""SCADA over OPC UA: each camera, machine and belt of the daemon as read-only nodes (``opcua.enabled``).

asyncua's server runs on its own thread and event loop; every ``update_every_s`` it reads
``state.site_state`` (the same figures the MQTT state topics carry) and writes the values that
changed. Node ids are strings in adit's namespace, ``ns=<index of opcua.namespace>;s=cameras.<name>.
status``, stable across restarts, so a SCADA tag list written once keeps working; the browse path is
``Objects/adit/Cameras/<name>/Status``. No node accepts a write. Until a value is known, strings are
empty, numbers 0 (a health index NaN) and times 1601-01-01, OPC UA's null time.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from asyncua import Server, ua

from edge_runtime.config.daemon import OpcUaConfig, is_loopback
from edge_runtime.errors import ConfigError
from edge_runtime.state import SiteState, SourceState

log = logging.getLogger(__name__)
logging.getLogger("asyncua").setLevel(logging.ERROR)  # it logs every session and policy at INFO/WARNING

START_TIMEOUT_S = 60.0  # asyncua loads the standard address space first: about 3 s here, more on a busy box
NULL_TIME = datetime(1601, 1, 1, tzinfo=UTC)
_V = ua.VariantType


@dataclass(frozen=True)
class Tag:
    """One variable of a camera or machine: its id suffix, browse name, OPC UA type and how to read it."""

    key: str
    name: str
    kind: ua.VariantType
    read: Callable[[SourceState], Any]


def _last(field: str) -> Callable[[SourceState], Any]:
    return lambda s: "" if s.counts.last is None else getattr(s.counts.last, field)


def _last_time(source: SourceState) -> datetime:
    last = source.counts.last
    return NULL_TIME if last is None else datetime.fromisoformat(last.ts)


SOURCE_TAGS = [
    Tag("status", "Status", _V.String, lambda s: s.state),
    Tag("online", "Online", _V.Boolean, lambda s: s.online),
    Tag("event_count", "EventCount", _V.UInt64, lambda s: s.counts.events),
    Tag("alarm_count", "AlarmCount", _V.UInt64, lambda s: s.counts.starts),
    Tag("last_event.id", "LastEventId", _V.String, _last("id")),
    Tag("last_event.type", "LastEventType", _V.String, _last("type")),
    Tag("last_event.label", "LastEventLabel", _V.String, _last("label")),
    Tag("last_event.phase", "LastEventPhase", _V.String, _last("phase")),
    Tag("last_event.severity", "LastEventSeverity", _V.String, _last("severity")),
    Tag("last_event.time", "LastEventTime", _V.DateTime, _last_time),
]
CAMERA_TAGS = [
    *SOURCE_TAGS,
    Tag("conditions", "Conditions", _V.String, lambda s: ",".join(s.conditions)),
    Tag("frames_processed", "FramesProcessed", _V.UInt64, lambda s: s.frames),
    Tag("frames_dropped", "FramesDropped", _V.UInt64, lambda s: s.dropped),
]
MACHINE_TAGS = [
    *SOURCE_TAGS,
    Tag("label", "Label", _V.String, lambda s: s.label or ""),
    Tag(
        "health_index",
        "HealthIndex",
        _V.Double,
        lambda s: math.nan if s.health_index is None else s.health_index,
    ),
    Tag("health_trend_per_h", "HealthTrendPerHour", _V.Double, lambda s: s.health_trend_per_h or 0.0),
    Tag("windows", "Windows", _V.UInt64, lambda s: s.frames),
]
BELT_TAGS = {  # BeltState.view() key -> (id suffix, browse name, type)
    "load": ("belt.load", "BeltLoad", _V.Double),
    "speed_mps": ("belt.recommended_speed_mps", "RecommendedSpeed", _V.Double),
    "setpoint_mps": ("belt.setpoint_mps", "SpeedSetpoint", _V.Double),
    "overloaded": ("belt.overloaded", "Overloaded", _V.Boolean),
}


@dataclass(frozen=True)
class Layout:
    """What the address space holds: fixed at start, as the site configuration is."""

    cameras: list[str]
    machines: list[str]
    belt_cameras: list[str]


class OpcUaServer:
    """Starts listening before the constructor returns (a taken port is a ConfigError); ``close`` stops it."""

    def __init__(self, config: OpcUaConfig, layout: Layout, state: Callable[[], SiteState]) -> None:
        self.config, self.layout, self._state = config, layout, state
        self.port = config.port
        self.updates = 0
        self.failures = 0
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._loop.run_until_complete, args=(self._serve(),), name="opcua"
        )
        self._thread.daemon = True
        self._thread.start()
        if not self._started.wait(START_TIMEOUT_S) or self._error is not None:
            self.close()
            why = self._error or f"not started in {START_TIMEOUT_S:.0f} s"
            raise ConfigError(f"opcua: cannot serve on {config.host}:{config.port} ({why})")
        if not is_loopback(config.host):
            log.warning("opcua: serving on %s without authentication (read-only nodes)", config.host)
        log.info("OPC UA server on %s (namespace %s)", self.endpoint, config.namespace)

    @property
    def endpoint(self) -> str:
        host = f"[{self.config.host}]" if ":" in self.config.host else self.config.host
        return f"opc.tcp://{host}:{self.port}/adit/"

    def close(self) -> None:
        if self._stop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10.0)
        if not self._thread.is_alive():
            self._loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        try:
            server = Server()
            await server.init()
            server.set_endpoint(self.endpoint)
            server.set_server_name("adit edge daemon")
            server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
            nodes = await self._build(server, await server.register_namespace(self.config.namespace))
            await server.start()
        except Exception as exc:  # noqa: BLE001 - reported to the constructor, which raises ConfigError
            self._error = exc
            self._started.set()
            return
        try:
            self.port = _bound_port(server) or self.port
            self._started.set()
            written: dict[str, Any] = {}
            while not self._stop.is_set():
                try:
                    await self._update(nodes, written)
                    self.updates += 1
                except Exception:  # the loop must never stop: count, log, try again next tick
                    self.failures += 1
                    log.exception("opcua: updating the nodes failed")
                try:
                    await asyncio.wait_for(self._stop.wait(), self.config.update_every_s)
                except TimeoutError:
                    pass
        finally:
            await server.stop()

    async def _build(self, server: Server, ns: int) -> dict[str, Any]:
        """The folders and variables; returns node id string -> variable node."""
        root = await server.nodes.objects.add_object(ua.NodeId("adit", ns), ua.QualifiedName("adit", ns))
        nodes: dict[str, Any] = {}

        async def variable(parent: Any, key: str, name: str, kind: ua.VariantType) -> None:
            initial = {
                _V.String: "",
                _V.Boolean: False,
                _V.UInt64: 0,
                _V.Double: 0.0,
                _V.DateTime: NULL_TIME,
            }[kind]
            nodes[key] = await parent.add_variable(
                ua.NodeId(key, ns), ua.QualifiedName(name, ns), ua.Variant(initial, kind)
            )

        site = await root.add_object(ua.NodeId("site", ns), ua.QualifiedName("Site", ns))
        await variable(site, "site.uptime_s", "UptimeSeconds", _V.Double)
        await variable(site, "site.artifact", "Artifact", _V.String)
        for group, names, tags in (
            ("cameras", self.layout.cameras, CAMERA_TAGS),
            ("machines", self.layout.machines, MACHINE_TAGS),
        ):
            folder = await root.add_folder(ua.NodeId(group, ns), ua.QualifiedName(group.title(), ns))
            for name in names:
                item = await folder.add_object(ua.NodeId(f"{group}.{name}", ns), ua.QualifiedName(name, ns))
                for tag in tags:
                    await variable(item, f"{group}.{name}.{tag.key}", tag.name, tag.kind)
                if group == "cameras" and name in self.layout.belt_cameras:
                    for key, browse, kind in BELT_TAGS.values():
                        await variable(item, f"cameras.{name}.{key}", browse, kind)
        return nodes

    async def _update(self, nodes: dict[str, Any], written: dict[str, Any]) -> None:
        state = self._state()
        values: dict[str, tuple[Any, ua.VariantType]] = {
            "site.uptime_s": (state.uptime_s, _V.Double),
            "site.artifact": (state.artifact, _V.String),
        }
        for group, sources, tags in (
            ("cameras", state.cameras, CAMERA_TAGS),
            ("machines", state.machines, MACHINE_TAGS),
        ):
            for source in sources:
                values |= {f"{group}.{source.name}.{t.key}": (t.read(source), t.kind) for t in tags}
        for camera, belt in state.belts.items():
            if camera in self.layout.belt_cameras:
                values |= {
                    f"cameras.{camera}.{key}": (belt[field], kind)
                    for field, (key, _, kind) in BELT_TAGS.items()
                }
        for key, (value, kind) in values.items():
            if key in nodes and written.get(key) != value:
                await nodes[key].write_value(ua.Variant(value, kind))  # stamped with the server's time
                written[key] = value


def _bound_port(server: Server) -> int | None:
    """The port the server listens on (the real one when 0 was asked); None if asyncua hides it."""
    listener = getattr(getattr(server, "bserver", None), "_server", None)  # asyncua keeps no public handle
    sockets = getattr(listener, "sockets", None) or []
    return int(sockets[0].getsockname()[1]) if sockets else None
