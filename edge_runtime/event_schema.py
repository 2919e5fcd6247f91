"""The published event contract: one typed model per event kind and phase, and the JSON Schema made from it.

Every event the daemon sends (MQTT, webhook, JSONL) is one of these. The models are the one source
of truth: ``docs/events/*.schema.json`` are generated from them (``python -m edge_runtime.event_schema
--write docs/events``) and a test fails when the files and the models drift apart. Consumers switch
on ``kind``, then ``phase``; ``schema_version`` changes only when a field is removed or its meaning
changes (new optional fields keep the version). The retained state messages are in ``state``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from edge_runtime.events import SCHEMA_VERSION, Severity

NAME_PATTERN = r"^[A-Za-z0-9_.-]+$"
TIME_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"

Name = Annotated[str, Field(pattern=NAME_PATTERN, description="a camera's or machine's configured name")]
EventId = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$", description="uuid4 hex; consumers dedupe by it")]
Timestamp = Annotated[str, Field(pattern=TIME_PATTERN, description="ISO 8601 UTC, milliseconds")]
Share = Annotated[float, Field(ge=0.0, le=1.0)]
Duration = Annotated[
    float,
    Field(ge=0.0, description="seconds from the start event, never negative (monotonic or video clock)"),
]
SnapshotPath = Annotated[
    str,
    Field(
        pattern=r"^/snapshots/[A-Za-z0-9_.-]+\.jpg$",
        description="URL path of the annotated frame on the daemon's dashboard (GET it from the same host)",
    ),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Envelope(_Strict):
    """The fields every event has; ``extra`` is typed per kind and phase."""

    schema_version: Literal[1] = Field(description="bumped only for a change that breaks a consumer")
    id: EventId
    ts: Timestamp = Field(description="wall-clock time of the frame or window the event is about")
    camera: Name = Field(description="the camera, or the machine for kind 'machine'")
    type: str = Field(
        min_length=1, description="the rule's event_type (or name); fixed names for the other kinds"
    )
    label: str = Field(min_length=1)
    score: Share
    frame: int = Field(ge=0, description="frame (or signal window) number in its source")
    pts_s: float = Field(ge=0.0, description="video or signal time of that frame, seconds")
    rule: str = Field(min_length=1)
    severity: Severity


# --- rule events (cameras) -------------------------------------------------------------------------------


class RuleStartExtra(_Strict):
    # absent (never null) when no snapshot was written: the published schema says string
    snapshot: SnapshotPath = Field(default=None, description="present when snapshots are enabled and written")  # type: ignore[assignment]


class RuleUpdateExtra(_Strict):
    start_id: EventId
    duration_s: Duration


class RuleEndExtra(RuleUpdateExtra):
    reason: Literal["absent", "stopped"] = Field(
        description="absent: a whole debounce window without a match; "
        "stopped: the source ended or the daemon stopped"
    )


class RuleStart(_Envelope):
    """A rule's condition began: ``hits`` of the last ``window`` frames matched (after dwell, cool-down)."""

    kind: Literal["rule"]
    phase: Literal["start"]
    extra: RuleStartExtra


class RuleUpdate(_Envelope):
    """The condition still holds (every ``update_every_s``); ``score`` is the peak so far."""

    kind: Literal["rule"]
    phase: Literal["update"]
    extra: RuleUpdateExtra


class RuleEnd(_Envelope):
    """The condition is over; ``score`` is its peak."""

    kind: Literal["rule"]
    phase: Literal["end"]
    extra: RuleEndExtra


# --- machine events (vibration): a rule on a machine, with its health index --------------------------------


class _MachineHealth(_Strict):
    health_index: Share = Field(description="smoothed P(not normal): 0 healthy, 1 faulty")
    health_trend_per_h: float = Field(description="slope of the health index per hour of signal")


class MachineStartExtra(_MachineHealth):
    pass


class MachineUpdateExtra(RuleUpdateExtra, _MachineHealth):
    pass


class MachineEndExtra(RuleEndExtra, _MachineHealth):
    pass


class MachineStart(_Envelope):
    """A rule watching a machine started (a fault class in enough windows)."""

    kind: Literal["machine"]
    phase: Literal["start"]
    extra: MachineStartExtra


class MachineUpdate(_Envelope):
    kind: Literal["machine"]
    phase: Literal["update"]
    extra: MachineUpdateExtra


class MachineEnd(_Envelope):
    kind: Literal["machine"]
    phase: Literal["end"]
    extra: MachineEndExtra


# --- camera health ---------------------------------------------------------------------------------------

Condition = Literal["no_frames", "frozen", "dark", "obscured", "resolution_changed"]


class CameraMeasures(_Strict):
    """The picture checks' last measures on a 96x72 grey thumbnail (absent before the first check)."""

    brightness: float | None = Field(default=None, ge=0, le=255, description="mean grey level")
    sharpness: float | None = Field(default=None, ge=0, description="variance of the Laplacian")
    change: float | None = Field(default=None, ge=0, description="mean absolute grey change between checks")


class HealthStartExtra(CameraMeasures):
    from_: list[int] | None = Field(default=None, alias="from", description="resolution_changed: old shape")
    to: list[int] | None = Field(default=None, description="resolution_changed: new shape")


class HealthEndExtra(CameraMeasures):
    start_id: EventId
    duration_s: Duration


class HealthStart(_Envelope):
    """A camera condition held for ``hold_s`` (``no_frames`` at once); ``type`` is ``camera_<label>``."""

    kind: Literal["camera_health"]
    phase: Literal["start"]
    type: Literal[
        "camera_no_frames", "camera_frozen", "camera_dark", "camera_obscured", "camera_resolution_changed"
    ]
    label: Condition
    rule: Literal["health"]
    extra: HealthStartExtra


class HealthEnd(_Envelope):
    """The condition cleared."""

    kind: Literal["camera_health"]
    phase: Literal["end"]
    type: Literal[
        "camera_no_frames", "camera_frozen", "camera_dark", "camera_obscured", "camera_resolution_changed"
    ]
    label: Condition
    rule: Literal["health"]
    extra: HealthEndExtra


# --- belt load and speed ----------------------------------------------------------------------------------


class BeltInputs(_Strict):
    """What the recommendation was computed from, so a control system can check it."""

    load: Share = Field(description="smoothed coal share of the belt region")
    raw_load: Share = Field(description="this frame's coal share")
    recommended_speed_mps: float = Field(ge=0, description="the ramped recommendation, m/s")
    setpoint_mps: float = Field(ge=0)
    min_mps: float = Field(gt=0)
    max_mps: float = Field(gt=0)
    full_load: Share
    overload_above: Share
    smoothing_s: float = Field(ge=0)


class BeltEndExtra(BeltInputs):
    start_id: EventId
    duration_s: Duration
    reason: Literal["load_fell", "stopped"]


class BeltSpeed(_Envelope):
    """The recommended speed moved by ``report_step_mps`` (or reached its set point); ``score`` = load."""

    kind: Literal["belt_load"]
    phase: Literal["update"]
    type: Literal["belt_speed"]
    label: Literal["speed"]
    rule: Literal["belt_load"]
    extra: BeltInputs


class BeltOverloadStart(_Envelope):
    """The smoothed load stayed above ``overload.above`` for ``hold_s``."""

    kind: Literal["belt_load"]
    phase: Literal["start"]
    type: Literal["belt_overload"]
    label: Literal["overload"]
    rule: Literal["belt_load"]
    extra: BeltInputs


class BeltOverloadEnd(_Envelope):
    kind: Literal["belt_load"]
    phase: Literal["end"]
    type: Literal["belt_overload"]
    label: Literal["overload"]
    rule: Literal["belt_load"]
    extra: BeltEndExtra


# --- the daemon's own state: a damaged outbox moved aside and salvaged -----------------------------------


class OutboxDamagedExtra(_Strict):
    moved_to: str = Field(description="where the damaged file was moved (never deleted)")
    reason: str = Field(description="what was wrong with it")
    salvaged: int = Field(ge=0, description="rows copied into the fresh outbox")
    unreadable: int = Field(ge=0, description="rows kept as dead letters")


class OutboxDamagedEndExtra(OutboxDamagedExtra):
    start_id: EventId
    duration_s: Duration


# --- the box over capacity ------------------------------------------------------------------------------


class CapacityCamera(_Strict):
    """One camera over the capacity monitor's window."""

    target_fps: float | None = Field(ge=0, description="its infer_fps; null: every frame")
    fps: float = Field(ge=0, description="inferences per second it got")
    dropped: int = Field(ge=0, description="inference slots it lost (a newer frame replaced one unseen)")
    dropped_share: Share
    frame_age_p99_ms: float | None = Field(ge=0, description="capture (stream clock) to inference")
    behind: bool = Field(description="over the site's max_dropped or max_frame_age_ms")


class CapacityExtra(_Strict):
    window_s: float = Field(ge=0, description="how many recent seconds were judged")
    target_fps: float = Field(ge=0, description="inferences per second the cameras ask for, together")
    fps: float = Field(ge=0, description="inferences per second they got")
    frame_age_p50_ms: float | None = Field(ge=0)
    frame_age_p99_ms: float | None = Field(ge=0)
    cameras_behind: list[Name] = Field(description="the cameras over a limit")


class CapacityEndExtra(CapacityExtra):
    start_id: EventId
    duration_s: Duration


class OutboxDamagedStart(_Envelope):
    """At start the outbox could not be read: it was moved aside and a fresh one started."""

    kind: Literal["outbox"]
    phase: Literal["start"]
    camera: Literal["daemon"] = Field(description="the daemon itself")
    type: Literal["outbox_damaged"]
    label: Literal["outbox_damaged"]
    rule: Literal["outbox"]
    extra: OutboxDamagedExtra


class OutboxDamagedEnd(_Envelope):
    """Sent right after the start: the recovery is complete."""

    kind: Literal["outbox"]
    phase: Literal["end"]
    camera: Literal["daemon"]
    type: Literal["outbox_damaged"]
    label: Literal["outbox_damaged"]
    rule: Literal["outbox"]
    extra: OutboxDamagedEndExtra


class CapacityStart(_Envelope):
    """The box cannot serve every camera its rate: a camera lost more than ``capacity.max_dropped`` of its
    inference slots, or its frame age p99 passed ``capacity.max_frame_age_ms``, over ``capacity.window_s``."""

    kind: Literal["capacity"]
    phase: Literal["start"]
    camera: Literal["daemon"] = Field(description="the daemon itself: the whole box, every camera on it")
    type: Literal["box_over_capacity"]
    label: Literal["over_capacity"]
    rule: Literal["health"]
    extra: CapacityExtra


class CapacityEnd(_Envelope):
    """A whole window within the limits again."""

    kind: Literal["capacity"]
    phase: Literal["end"]
    camera: Literal["daemon"]
    type: Literal["box_over_capacity"]
    label: Literal["over_capacity"]
    rule: Literal["health"]
    extra: CapacityEndExtra


# --- drift: a camera's recent frames against the bundle's reference statistics (siteloop) --------------

DriftStatistic = Literal["brightness", "contrast", "sharpness", "confidence"]


class DriftExtra(_Strict):
    psi: float = Field(ge=0, description="Population Stability Index of the recent samples to the reference")
    recent_median: float | None = Field(description="median of the camera's recent samples")
    reference_median: float = Field(description="median of the bundle's reference data")
    samples: int = Field(ge=0, description="recent samples compared")


class DriftEndExtra(DriftExtra):
    start_id: EventId
    duration_s: Duration
    reason: Literal["cleared", "stopped"] = Field(
        description="cleared: the PSI fell below clear_below; stopped: the daemon stopped"
    )


class DriftStart(_Envelope):
    """A statistic of a camera's recent frames left the training data (PSI >= raise_above)."""

    kind: Literal["drift"]
    phase: Literal["start"]
    type: Literal["drift"]
    label: DriftStatistic = Field(description="the statistic that moved")
    rule: Literal["drift"]
    extra: DriftExtra


class DriftEnd(_Envelope):
    kind: Literal["drift"]
    phase: Literal["end"]
    type: Literal["drift"]
    label: DriftStatistic
    rule: Literal["drift"]
    extra: DriftEndExtra


RuleEvent = Annotated[RuleStart | RuleUpdate | RuleEnd, Field(discriminator="phase")]
MachineEvent = Annotated[MachineStart | MachineUpdate | MachineEnd, Field(discriminator="phase")]
HealthEvent = Annotated[HealthStart | HealthEnd, Field(discriminator="phase")]
BeltEvent = Annotated[BeltSpeed | BeltOverloadStart | BeltOverloadEnd, Field(discriminator="phase")]
OutboxEvent = Annotated[OutboxDamagedStart | OutboxDamagedEnd, Field(discriminator="phase")]
CapacityEvent = Annotated[CapacityStart | CapacityEnd, Field(discriminator="phase")]
DriftEvent = Annotated[DriftStart | DriftEnd, Field(discriminator="phase")]
AnyEvent = Annotated[
    RuleEvent | MachineEvent | HealthEvent | BeltEvent | OutboxEvent | CapacityEvent | DriftEvent,
    Field(discriminator="kind"),
]

# The schema files of docs/events: name -> (title, type). ``event`` is the union every consumer can use.
SCHEMAS: dict[str, tuple[str, Any]] = {
    "event": ("adit event (any kind)", AnyEvent),
    "rule": ("adit rule event (cameras)", RuleEvent),
    "machine": ("adit machine event (vibration)", MachineEvent),
    "camera_health": ("adit camera health event", HealthEvent),
    "belt_load": ("adit belt load and speed event", BeltEvent),
    "outbox": ("adit outbox recovery event", OutboxEvent),
    "capacity": ("adit box capacity event", CapacityEvent),
    "drift": ("adit drift event (a camera's frames against the bundle's reference statistics)", DriftEvent),
}

_ADAPTER: TypeAdapter[Any] = TypeAdapter(AnyEvent)


def validate_event(data: dict[str, Any]) -> BaseModel:
    """One JSON-decoded event as its typed model; pydantic's ValidationError if it breaks the contract."""
    return _ADAPTER.validate_python(data, strict=True)


def json_schema(name: str) -> dict[str, Any]:
    """The JSON Schema of ``SCHEMAS[name]``."""
    title, model = SCHEMAS[name]
    return json_schema_of(title, model, name)


def json_schema_of(title: str, model: Any, name: str) -> dict[str, Any]:
    """A model's JSON Schema (draft 2020-12) with a versioned id, a title and the version."""
    body = TypeAdapter(model).json_schema(by_alias=True)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:adit:schema:{name}:v{SCHEMA_VERSION}",
        "title": title,
        "version": SCHEMA_VERSION,
        **body,
    }


def schema_files(extra: dict[str, dict[str, Any]] | None = None) -> dict[str, str]:
    """File name -> text of every published schema (the events, plus ``extra``: the state messages)."""
    documents = {name: json_schema(name) for name in SCHEMAS} | (extra or {})
    return {
        f"{name}.schema.json": json.dumps(doc, indent=2, sort_keys=True) + "\n"
        for name, doc in documents.items()
    }


def drift(folder: Path, files: dict[str, str]) -> list[str]:
    """The schema files in ``folder`` that differ from (or are missing against) the models."""
    return [
        name
        for name, text in files.items()
        if not (folder / name).is_file() or (folder / name).read_text() != text
    ]


def main(argv: list[str] | None = None) -> int:
    from edge_runtime.state import (
        state_schemas,
    )  # the retained state messages are published beside the events

    parser = argparse.ArgumentParser(
        prog="python -m edge_runtime.event_schema", description="Write or check the published event schemas."
    )
    parser.add_argument("folder", type=Path, nargs="?", default=Path("docs/events"))
    parser.add_argument(
        "--write", action="store_true", help="write the files (default: check them, exit 1 on drift)"
    )
    args = parser.parse_args(argv)
    from edge_runtime.fleet.messages import fleet_schemas  # and the fleet's (docs/fleet.md)

    files = schema_files(state_schemas() | fleet_schemas())
    if args.write:
        args.folder.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (args.folder / name).write_text(text)
        print(f"wrote {len(files)} schema(s) to {args.folder}")
        return 0
    stale = drift(args.folder, files)
    if stale:
        print(
            f"{args.folder}: out of date with edge_runtime's models: {', '.join(stale)}; run with --write",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
