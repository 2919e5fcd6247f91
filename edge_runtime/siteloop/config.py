"""The site loop's section of the site YAML (``site_loop:``): capture, drift, shadow and promotion settings.

Typed like the rest of the site configuration (unknown keys refused, bounded fields); kept here so the
daemon's own configuration grows by one field.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from edge_runtime.siteloop.framestats import STATISTICS, Statistic


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class CaptureConfig(_Section):
    """Hard examples kept on the device for labelling, under a disk quota and a rate limit per camera."""

    enabled: bool = False
    folder: Path = Field(default=Path("runs/demo/captures"), description="JPEGs and their index (SQLite)")
    quota_mb: float = Field(
        default=200.0, gt=0, description="oldest captures deleted beyond it (feedback kept)"
    )
    per_minute: float = Field(default=6.0, gt=0, description="captures per camera per minute, on average")
    burst: int = Field(default=3, ge=1, description="captures a camera may take at once after a quiet spell")
    margin_below: float = Field(
        default=0.15,
        ge=0,
        le=1,
        description="classification: top-1 minus top-2 probability below this is unsure",
    )
    near_threshold: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="a rule's label scored within this of its min_score (or min_area)",
    )
    flicker: bool = Field(default=True, description="the answer went A, B, A over three consecutive frames")
    events: bool = Field(
        default=True, description="keep the raw frame of each event start, so operator feedback has its frame"
    )
    jpeg_quality: int = Field(default=92, ge=50, le=100)
    queue: int = Field(default=16, ge=1, description="frames waiting for the writer thread; more are dropped")


class DriftConfig(_Section):
    """Each camera's recent frames against the bundle's reference statistics (needs ``reference`` in it)."""

    enabled: bool = True
    every_s: float = Field(default=1.0, gt=0, description="one frame measured per camera this often")
    window: int = Field(default=300, ge=10, description="recent samples compared with the reference")
    min_samples: int = Field(default=100, ge=10, description="no verdict before this many samples")
    # PSI's rule of thumb calls 0.25 a significant shift; 0.5 leaves room for the chance scores of
    # a short window of correlated frames (up to about 0.3 at 100 samples of the reference itself)
    raise_above: float = Field(default=0.5, gt=0, description="PSI at or above which drift is raised")
    clear_below: float = Field(default=0.2, ge=0, description="PSI below which a raised drift ends")
    statistics: list[Statistic] = Field(default_factory=lambda: list(STATISTICS), min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> DriftConfig:
        if self.clear_below >= self.raise_above:
            raise ValueError(
                f"clear_below ({self.clear_below}) must be less than raise_above ({self.raise_above})"
            )
        if self.min_samples > self.window:
            raise ValueError(f"min_samples ({self.min_samples}) cannot exceed window ({self.window})")
        return self


class ShadowConfig(_Section):
    """A candidate bundle run beside the live one on a sample of frames, within a CPU budget."""

    bundle: Path = Field(description="the candidate bundle (directory or .tar.gz)")
    artifact: str | None = Field(default=None, pattern=r"^[a-z]+-[a-z0-9]+$")
    threads: int | None = Field(default=1, gt=0, description="the candidate's inference threads")
    every_n: int = Field(default=1, ge=1, description="offer every n-th frame of each camera")
    cpu_budget: float = Field(
        default=0.2, gt=0, le=1, description="candidate inference time at most this share of the live one's"
    )


class PromoteConfig(_Section):
    """Promotion of the shadow candidate (``POST /api/promote``, ``python -m edge_runtime promote``).

    The daemon then runs the bundle store's ``current`` bundle (seeded from ``model.bundle``), like a fleet
    device; with a ``fleet`` section the fleet's store and health settings are used instead of these.
    """

    store: Path = Field(
        default=Path("runs/demo/bundle-store"), description="verified bundles; current and previous links"
    )
    window_s: float = Field(default=60.0, gt=0, description="the new bundle must be healthy within this")
    min_frames: int = Field(default=3, ge=1, description="frames the model must have run to be healthy")
    min_compared: int = Field(default=200, ge=0, description="frames compared in shadow before promotion")
    min_agreement: float | None = Field(
        default=None, ge=0, le=1, description="least agreement with the live model in shadow (None: any)"
    )


class SiteLoopConfig(_Section):
    capture: CaptureConfig = CaptureConfig()
    drift: DriftConfig = DriftConfig()
    shadow: ShadowConfig | None = Field(default=None, description="no shadow run unless set")
    promote: PromoteConfig | None = Field(default=None, description="no promotion on this device unless set")
