"""The daemon's own events: a damaged outbox recovered, the box over capacity (camera ``daemon``), the model
failing on a camera's frames or a machine's windows."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from edge_runtime.event_models.fields import Duration, Envelope, EventId, Name, Share, Strict

# --- the daemon's own state: a damaged outbox moved aside and salvaged -----------------------------------


class OutboxDamagedExtra(Strict):
    moved_to: str = Field(description="where the damaged file was moved (never deleted)")
    reason: str = Field(description="what was wrong with it")
    salvaged: int = Field(ge=0, description="rows copied into the fresh outbox")
    unreadable: int = Field(ge=0, description="rows kept as dead letters")


class OutboxDamagedEndExtra(OutboxDamagedExtra):
    start_id: EventId
    duration_s: Duration


class OutboxDamagedStart(Envelope):
    """At start the outbox could not be read: it was moved aside and a fresh one started."""

    kind: Literal["outbox"]
    phase: Literal["start"]
    camera: Literal["daemon"] = Field(description="the daemon itself")
    type: Literal["outbox_damaged"]
    label: Literal["outbox_damaged"]
    rule: Literal["outbox"]
    extra: OutboxDamagedExtra


class OutboxDamagedEnd(Envelope):
    """Sent right after the start: the recovery is complete."""

    kind: Literal["outbox"]
    phase: Literal["end"]
    camera: Literal["daemon"]
    type: Literal["outbox_damaged"]
    label: Literal["outbox_damaged"]
    rule: Literal["outbox"]
    extra: OutboxDamagedEndExtra


# --- the box over capacity ------------------------------------------------------------------------------


class CapacityCamera(Strict):
    """One camera over the capacity monitor's window."""

    target_fps: float | None = Field(ge=0, description="its infer_fps; null: every frame")
    fps: float = Field(ge=0, description="inferences per second it got")
    dropped: int = Field(ge=0, description="inference slots it lost (a newer frame replaced one unseen)")
    dropped_share: Share
    frame_age_p99_ms: float | None = Field(ge=0, description="capture (stream clock) to inference")
    behind: bool = Field(description="over the site's max_dropped or max_frame_age_ms")


class CapacityExtra(Strict):
    window_s: float = Field(ge=0, description="how many recent seconds were judged")
    target_fps: float = Field(ge=0, description="inferences per second the cameras ask for, together")
    fps: float = Field(ge=0, description="inferences per second they got")
    frame_age_p50_ms: float | None = Field(ge=0)
    frame_age_p99_ms: float | None = Field(ge=0)
    cameras_behind: list[Name] = Field(description="the cameras over a limit")


class CapacityEndExtra(CapacityExtra):
    start_id: EventId
    duration_s: Duration


class CapacityStart(Envelope):
    """The box cannot serve every camera its rate: a camera lost more than ``capacity.max_dropped`` of its
    inference slots, or its frame age p99 passed ``capacity.max_frame_age_ms``, over ``capacity.window_s``."""

    kind: Literal["capacity"]
    phase: Literal["start"]
    camera: Literal["daemon"] = Field(description="the daemon itself: the whole box, every camera on it")
    type: Literal["box_over_capacity"]
    label: Literal["over_capacity"]
    rule: Literal["health"]
    extra: CapacityExtra


class CapacityEnd(Envelope):
    """A whole window within the limits again."""

    kind: Literal["capacity"]
    phase: Literal["end"]
    camera: Literal["daemon"]
    type: Literal["box_over_capacity"]
    label: Literal["over_capacity"]
    rule: Literal["health"]
    extra: CapacityEndExtra


# --- the model failing on a source's frames ----------------------------------------------------------------


class InferenceFailingExtra(Strict):
    model: str = Field(description="the artifact that failed, e.g. openvino-int8")
    failed: int = Field(ge=1, description="failed inferences among the source's last `window`")
    window: int = Field(ge=1, description="the site's inference_failures.window")
    error: str = Field(description="the last failure: exception type and message")


class InferenceFailingEndExtra(Strict):
    model: str
    start_id: EventId
    duration_s: Duration
    failed: int = Field(ge=0, description="frames (windows) that failed while the event was open")


class InferenceFailingStart(Envelope):
    """``inference_failures.raise_after`` of a source's last ``inference_failures.window`` inferences failed
    (the runtime raised, or its outputs could not be decoded): those frames caused no events."""

    kind: Literal["inference"]
    phase: Literal["start"]
    type: Literal["inference_failing"]
    label: Literal["inference_failing"]
    rule: Literal["health"]
    extra: InferenceFailingExtra


class InferenceFailingEnd(Envelope):
    """A whole window of the source's inferences worked again."""

    kind: Literal["inference"]
    phase: Literal["end"]
    type: Literal["inference_failing"]
    label: Literal["inference_failing"]
    rule: Literal["health"]
    extra: InferenceFailingEndExtra


OutboxEvent = Annotated[OutboxDamagedStart | OutboxDamagedEnd, Field(discriminator="phase")]
CapacityEvent = Annotated[CapacityStart | CapacityEnd, Field(discriminator="phase")]
InferenceEvent = Annotated[InferenceFailingStart | InferenceFailingEnd, Field(discriminator="phase")]
