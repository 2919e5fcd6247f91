"""Belt load and the recommended belt speed, measured on a segment bundle's masks."""

from __future__ import annotations

from pydantic import Field, model_validator

from edge_runtime.config.base import ANY_CAMERA, Section


class SpeedConfig(Section):
    """The recommended belt speed: proportional to the load, within limits, with a dead band and a ramp."""

    min_mps: float = Field(default=1.0, gt=0, description="slowest speed the drive may run (m/s)")
    max_mps: float = Field(default=2.5, gt=0, description="full (design) speed, m/s")
    full_load: float = Field(
        default=0.7,
        gt=0,
        le=1,
        description="smoothed load at which the belt needs full speed; below it the speed scales with the "
        "load, so the coal per metre stays at this design level",
    )
    deadband_mps: float = Field(
        default=0.1,
        ge=0,
        description="hysteresis: the set point moves only when the target differs by this much",
    )
    max_accel_mps2: float = Field(
        default=0.2, gt=0, description="rate limit of the recommendation (m/s per s)"
    )
    report_step_mps: float = Field(
        default=0.25, gt=0, description="a belt_speed event each time the recommendation moved this far"
    )

    @model_validator(mode="after")
    def _ordered(self) -> SpeedConfig:
        if self.min_mps > self.max_mps:
            raise ValueError(f"min_mps ({self.min_mps}) cannot exceed max_mps ({self.max_mps})")
        return self


class OverloadConfig(Section):
    """An overload event starts when the smoothed load stays at or above ``above`` for ``hold_s``."""

    above: float = Field(default=0.8, gt=0, le=1, description="smoothed load that starts an overload")
    below: float = Field(default=0.72, ge=0, le=1, description="smoothed load that ends it (hysteresis)")
    hold_s: float = Field(default=1.0, ge=0, description="video seconds the load must stay above to start")

    @model_validator(mode="after")
    def _hysteresis(self) -> OverloadConfig:
        if self.below >= self.above:
            raise ValueError(f"below ({self.below}) must be less than above ({self.above})")
        return self


class BeltLoadConfig(Section):
    """Belt load from a segment bundle: the coal class's share of a belt region, smoothed, and a speed."""

    camera: str = Field(
        default=ANY_CAMERA, description='the camera that sees the belt, or "*" for every camera'
    )
    region: list[tuple[float, float]] = Field(
        min_length=3, description="belt polygon [[x, y], ...] in 0..1 of the frame: where load is measured"
    )
    label: str = Field(default="coal", min_length=1, description="the bundle class that is load")
    smoothing_s: float = Field(
        default=2.0, ge=0, description="time constant of the load's exponential smoothing (video seconds)"
    )
    speed: SpeedConfig = SpeedConfig()
    overload: OverloadConfig = OverloadConfig()

    @model_validator(mode="after")
    def _region_inside_frame(self) -> BeltLoadConfig:
        outside = [point for point in self.region if not all(0.0 <= v <= 1.0 for v in point)]
        if outside:
            raise ValueError(f"region: points must lie in 0..1 of the frame; outside: {outside}")
        return self

    def watches(self, camera: str) -> bool:
        return self.camera in (ANY_CAMERA, camera)
