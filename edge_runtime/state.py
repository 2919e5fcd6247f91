"""The site's current state for control systems: per camera, machine and belt, as typed messages.

Events say what changed; a PLC, a SCADA tag or a Node-RED flow also needs to read what *is*: is the
camera delivering, what was its last event, how loaded is the belt. ``EventTally`` keeps each
source's last event and counts (it is one more sink beside the outbox); ``site_state`` reads the
daemon's live objects into the messages below. The MQTT state publisher sends them as retained
topics and the OPC UA server copies them into its nodes, so both say the same thing. The models are
published beside the events (docs/events/state_*.schema.json).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from edge_runtime.event_models.fields import EventId, Name, Share, Timestamp, json_schema_of
from edge_runtime.events import SCHEMA_VERSION, Event, Kind, Phase, Severity
from edge_runtime.observe import CameraState, DaemonView

MachineState = Literal["running", "error", "ended"]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION


class LastEvent(_Message):
    """The newest event of a source (any kind and phase): enough to show it and to fetch it by id."""

    id: EventId
    ts: Timestamp
    kind: Kind
    type: str
    label: str
    phase: Phase
    severity: Severity

    @classmethod
    def of(cls, event: Event | None) -> LastEvent | None:
        if event is None:
            return None
        return cls(
            id=event.id,
            ts=event.ts,
            kind=event.kind,
            type=event.type,
            label=event.label,
            phase=event.phase,
            severity=event.severity,
        )


class CameraMessage(_Message):
    """Retained on ``<state topic>/<device>/camera/<name>``: is the camera delivering, and its last event."""

    device: Name
    camera: Name
    online: bool = Field(description="frames arrive (the picture may still be blind: see state)")
    state: CameraState | Literal["stopped"] = Field(
        description="online, blind (frozen/dark/obscured), offline (no frames), reconnecting, ended (a file "
        "source finished), stopped (the daemon shut down cleanly)"
    )
    conditions: list[str] = Field(
        description="raised conditions, as /healthz lists them: the picture's (dark, frozen, ...), "
        "inference_failing (the model fails on its frames) and rules_failing (its rules step raises)"
    )
    last_event: LastEvent | None


class MachineMessage(_Message):
    """Retained on ``<state topic>/<device>/machine/<name>``: a monitored machine's health."""

    device: Name
    machine: Name
    online: bool = Field(description="samples are being classified")
    state: MachineState | Literal["stopped"]
    label: str | None = Field(description="the newest window's class")
    health_index: Share | None = Field(description="smoothed P(not normal): 0 healthy, 1 faulty")
    last_event: LastEvent | None


class BeltMessage(_Message):
    """Retained on ``<state topic>/<device>/belt/<camera>``: belt load and the speed recommendation."""

    device: Name
    camera: Name
    load: Share = Field(description="smoothed coal share of the belt region, to 0.01")
    recommended_speed_mps: float = Field(ge=0, description="to 0.01 m/s")
    overloaded: bool


@dataclass
class SourceCounts:
    events: int = 0
    starts: int = 0  # incidents: events of phase start
    last: Event | None = None


class EventTally:
    """A sink that remembers each source's last event and counts them; never fails, never blocks."""

    name = "tally"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sources: dict[str, SourceCounts] = {}
        self._kinds: Counter[str] = Counter()

    def deliver(self, event: Event) -> None:
        with self._lock:
            counts = self._sources.setdefault(event.camera, SourceCounts())
            counts.events += 1
            counts.starts += event.phase == "start"
            counts.last = event
            self._kinds[event.kind] += 1

    def close(self) -> None:
        """Nothing held."""

    def get(self, source: str) -> SourceCounts:
        with self._lock:
            counts = self._sources.get(source, SourceCounts())
            return SourceCounts(counts.events, counts.starts, counts.last)


@dataclass(frozen=True)
class SourceState:
    """One camera or machine, as both the MQTT state and the OPC UA nodes show it."""

    name: str
    online: bool
    state: str
    conditions: list[str]
    counts: SourceCounts
    frames: int  # frames processed (cameras) or windows classified (machines)
    dropped: int
    label: str | None = None
    health_index: float | None = None
    health_trend_per_h: float | None = None


@dataclass(frozen=True)
class SiteState:
    uptime_s: float
    artifact: str
    cameras: list[SourceState]
    machines: list[SourceState]
    belts: dict[str, dict[str, Any]] = field(default_factory=dict)  # camera -> BeltState.view()


def site_state(view: DaemonView, tally: EventTally) -> SiteState:
    """Read the daemon's live objects once (cheap: a few dicts), for a publisher's tick."""
    cameras = []
    for camera in view.cameras:
        state, summary = camera.state(), camera.summary_state()
        cameras.append(
            SourceState(
                name=camera.name,
                online=summary in ("online", "blind"),
                state=summary,
                conditions=view.conditions(camera, state),  # /healthz's: with the model's and the rules'
                counts=tally.get(camera.name),
                frames=state["processed"],
                dropped=state["dropped"],
            )
        )
    machines = []
    for monitor in view.machines:
        state = monitor.state()
        word: MachineState = "ended" if state["ended"] else "error" if state["error"] else "running"
        machines.append(
            SourceState(
                name=monitor.config.name,
                online=word == "running",
                state=word,
                conditions=[],
                counts=tally.get(monitor.config.name),
                frames=state["windows"],
                dropped=state["invalid_windows"],
                label=state["label"],
                health_index=state["health_index"],
                health_trend_per_h=state["health_trend_per_h"],
            )
        )
    return SiteState(
        uptime_s=round(time.monotonic() - view.started, 1),
        artifact=view.artifact,
        cameras=cameras,
        machines=machines,
        belts=view.belt_states(),
    )


def camera_message(device: str, source: SourceState) -> CameraMessage:
    return CameraMessage(
        device=device,
        camera=source.name,
        online=source.online,
        state=source.state,
        conditions=source.conditions,
        last_event=LastEvent.of(source.counts.last),
    )


def machine_message(device: str, source: SourceState) -> MachineMessage:
    return MachineMessage(
        device=device,
        machine=source.name,
        online=source.online,
        state=source.state,
        label=source.label,
        health_index=source.health_index,
        last_event=LastEvent.of(source.counts.last),
    )


def belt_message(device: str, camera: str, belt: dict[str, Any]) -> BeltMessage:
    return BeltMessage(
        device=device,
        camera=camera,
        load=round(float(belt["load"]), 2),
        recommended_speed_mps=round(float(belt["speed_mps"]), 2),
        overloaded=bool(belt["overloaded"]),
    )


def state_schemas() -> dict[str, dict[str, Any]]:
    """The retained state messages' JSON Schemas, published beside the events'."""
    return {
        "state_camera": json_schema_of("adit retained camera state", CameraMessage, "state_camera"),
        "state_machine": json_schema_of("adit retained machine state", MachineMessage, "state_machine"),
        "state_belt": json_schema_of("adit retained belt state", BeltMessage, "state_belt"),
    }
