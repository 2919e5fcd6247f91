"""The rules that turn predictions into events: labels, scores, debounce, zones and tripwires."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import Field, model_validator

from edge_runtime.config.base import ANY_CAMERA, NAME, Point, Section


class DebounceConfig(Section):
    """An event starts when ``hits`` of the last ``window`` frames match."""

    hits: int = Field(default=3, gt=0)
    window: int = Field(default=5, gt=0)

    @model_validator(mode="after")
    def _hits_fit_window(self) -> DebounceConfig:
        if self.hits > self.window:
            raise ValueError(f"hits ({self.hits}) cannot exceed window ({self.window})")
        return self


class TripwireConfig(Section):
    """A directed line a->b in 0..1 of the frame; detections count when their bottom-centre crosses it."""

    line: tuple[Point, Point]
    direction: Literal["left_to_right", "right_to_left", "any"] = Field(
        default="any", description="seen walking from a towards b: from its left-hand side to its right"
    )
    max_jump: float = Field(default=0.2, gt=0, le=1, description="how far an object may move between frames")

    @model_validator(mode="after")
    def _has_length(self) -> TripwireConfig:
        if self.line[0] == self.line[1]:
            raise ValueError(
                f"line: both ends are {list(self.line[0])}; a tripwire needs two distinct points"
            )
        return self


class RuleConfig(Section):
    """A class/score rule with N-of-M debounce and a cool-down between starts."""

    name: str = Field(pattern=NAME)
    camera: str = Field(
        default=ANY_CAMERA, description='a camera or machine name, or "*" for every camera and machine'
    )
    labels: list[str] = Field(min_length=1, description="bundle class names that trigger the rule")
    min_score: float = Field(default=0.5, ge=0.0, le=1.0)
    debounce: DebounceConfig = DebounceConfig()
    cooldown_s: float = Field(
        default=5.0, ge=0.0, description="minimum time between two starts, in video seconds"
    )
    dwell_s: float = Field(
        default=0.0, ge=0.0, description="the condition must have held this long (video seconds) to start"
    )
    zone: list[Point] | None = Field(
        default=None,
        min_length=3,
        description="polygon [[x, y], ...] in 0..1 of the frame; a detection counts when its bottom-centre "
        "is inside; classification and segmentation look at the whole frame",
    )
    update_every_s: float | None = Field(
        default=None, gt=0, description="while an event lasts, send an update this often (video seconds)"
    )
    tripwire: TripwireConfig | None = Field(default=None, description="detections only")
    min_area: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="detections: box area; segmentation: class share of the frame",
    )
    event_type: str | None = Field(
        default=None,
        pattern=NAME,
        description="the events' type; None = the rule's name; one MQTT topic level, so no '+', '#' or '/'",
    )
    severity: Literal["info", "warning", "critical"] = Field(
        default="warning", description="carried by the events: the dashboard's colour, an alarm's priority"
    )

    @model_validator(mode="after")
    def _zone_has_area(self) -> RuleConfig:
        if self.zone is not None and _polygon_area(self.zone) < 1e-6:
            raise ValueError("zone: its points lie on one line (no area); nothing could ever be inside it")
        return self

    @property
    def type(self) -> str:
        return self.event_type or self.name

    def watches(self, camera: str) -> bool:
        return self.camera in (ANY_CAMERA, camera)


def _polygon_area(points: Sequence[tuple[float, float]]) -> float:
    """The shoelace formula: the area of a simple polygon, in frame fractions squared."""
    edges = zip(points, [*points[1:], points[0]], strict=True)
    twice = sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in edges)
    return abs(twice) / 2.0
