"""What a camera's picture says beside the rules: its health, the belt load it sees, its drift."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from edge_runtime.event_models.fields import Duration, Envelope, EventId, Share, Strict

Condition = Literal["no_frames", "frozen", "dark", "obscured", "resolution_changed"]


class CameraMeasures(Strict):
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


class HealthStart(Envelope):
    """A camera condition held for ``hold_s`` (``no_frames`` at once); ``type`` is ``camera_<label>``."""

    kind: Literal["camera_health"]
    phase: Literal["start"]
    type: Literal[
        "camera_no_frames", "camera_frozen", "camera_dark", "camera_obscured", "camera_resolution_changed"
    ]
    label: Condition
    rule: Literal["health"]
    extra: HealthStartExtra


class HealthEnd(Envelope):
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


class BeltInputs(Strict):
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


class BeltSpeed(Envelope):
    """The recommended speed moved by ``report_step_mps`` (or reached its set point); ``score`` = load."""

    kind: Literal["belt_load"]
    phase: Literal["update"]
    type: Literal["belt_speed"]
    label: Literal["speed"]
    rule: Literal["belt_load"]
    extra: BeltInputs


class BeltOverloadStart(Envelope):
    """The smoothed load stayed above ``overload.above`` for ``hold_s``."""

    kind: Literal["belt_load"]
    phase: Literal["start"]
    type: Literal["belt_overload"]
    label: Literal["overload"]
    rule: Literal["belt_load"]
    extra: BeltInputs


class BeltOverloadEnd(Envelope):
    kind: Literal["belt_load"]
    phase: Literal["end"]
    type: Literal["belt_overload"]
    label: Literal["overload"]
    rule: Literal["belt_load"]
    extra: BeltEndExtra


# --- drift: a camera's recent frames against the bundle's reference statistics (siteloop) --------------

DriftStatistic = Literal["brightness", "contrast", "sharpness", "confidence"]


class DriftExtra(Strict):
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


class DriftStart(Envelope):
    """A statistic of a camera's recent frames left the training data (PSI >= raise_above)."""

    kind: Literal["drift"]
    phase: Literal["start"]
    type: Literal["drift"]
    label: DriftStatistic = Field(description="the statistic that moved")
    rule: Literal["drift"]
    extra: DriftExtra


class DriftEnd(Envelope):
    kind: Literal["drift"]
    phase: Literal["end"]
    type: Literal["drift"]
    label: DriftStatistic
    rule: Literal["drift"]
    extra: DriftEndExtra


HealthEvent = Annotated[HealthStart | HealthEnd, Field(discriminator="phase")]
BeltEvent = Annotated[BeltSpeed | BeltOverloadStart | BeltOverloadEnd, Field(discriminator="phase")]
DriftEvent = Annotated[DriftStart | DriftEnd, Field(discriminator="phase")]
