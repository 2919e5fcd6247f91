"""The fields every published message shares: names, ids, times, shares; the event envelope.

The events (``edge_runtime.event_models``), the retained state messages (``state``) and the fleet's
messages (``fleet.messages``) are built from these, so a name or a timestamp means the same everywhere.
"""

from __future__ import annotations

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


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Envelope(Strict):
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
