"""Rule events: a rule watching a camera (kind ``rule``) or a machine (kind ``machine``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from edge_runtime.event_models.fields import Duration, Envelope, EventId, Share, SnapshotPath, Strict


class RuleStartExtra(Strict):
    # absent (never null) when no snapshot was written: the published schema says string
    snapshot: SnapshotPath = Field(default=None, description="present when snapshots are enabled and written")  # type: ignore[assignment]


class RuleUpdateExtra(Strict):
    start_id: EventId
    duration_s: Duration


class RuleEndExtra(RuleUpdateExtra):
    reason: Literal["absent", "stopped"] = Field(
        description="absent: a whole debounce window without a match; "
        "stopped: the source ended or the daemon stopped"
    )


class RuleStart(Envelope):
    """A rule's condition began: ``hits`` of the last ``window`` frames matched (after dwell, cool-down)."""

    kind: Literal["rule"]
    phase: Literal["start"]
    extra: RuleStartExtra


class RuleUpdate(Envelope):
    """The condition still holds (every ``update_every_s``); ``score`` is the peak so far."""

    kind: Literal["rule"]
    phase: Literal["update"]
    extra: RuleUpdateExtra


class RuleEnd(Envelope):
    """The condition is over; ``score`` is its peak."""

    kind: Literal["rule"]
    phase: Literal["end"]
    extra: RuleEndExtra


# --- machines (vibration): a rule on a machine, with its health index


class MachineHealth(Strict):
    health_index: Share = Field(description="smoothed P(not normal): 0 healthy, 1 faulty")
    health_trend_per_h: float = Field(description="slope of the health index per hour of signal")


class MachineStartExtra(MachineHealth):
    pass


class MachineUpdateExtra(RuleUpdateExtra, MachineHealth):
    pass


class MachineEndExtra(RuleEndExtra, MachineHealth):
    pass


class MachineStart(Envelope):
    """A rule watching a machine started (a fault class in enough windows)."""

    kind: Literal["machine"]
    phase: Literal["start"]
    extra: MachineStartExtra


class MachineUpdate(Envelope):
    kind: Literal["machine"]
    phase: Literal["update"]
    extra: MachineUpdateExtra


class MachineEnd(Envelope):
    kind: Literal["machine"]
    phase: Literal["end"]
    extra: MachineEndExtra


RuleEvent = Annotated[RuleStart | RuleUpdate | RuleEnd, Field(discriminator="phase")]
MachineEvent = Annotated[MachineStart | MachineUpdate | MachineEnd, Field(discriminator="phase")]
