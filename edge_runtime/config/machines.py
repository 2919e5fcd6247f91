"""The monitored machines: vibration samples classified window by window by a ``signal`` bundle."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from edge_runtime.config.base import NAME, PRECISION_HELP, PrecisionChoice, Section
from edge_runtime.config.cameras import ReconnectConfig


class MachineHealthConfig(Section):
    """The health index: an EMA of P(not normal) per window, and its least-squares trend."""

    normal_label: str = Field(default="normal", min_length=1, description="the bundle's healthy class")
    smoothing: float = Field(default=0.1, gt=0, le=1, description="EMA weight of the newest window")
    trend_windows: int = Field(default=50, ge=2, description="windows the trend slope is fitted over")


class MachineConfig(Section):
    """A monitored machine: vibration samples classified window by window by a ``signal`` bundle.

    Its name is the "camera" of its events and rules, so rules watch a machine as they watch a camera.
    """

    name: str = Field(pattern=NAME, description="used in events and metrics")
    source: str = Field(
        min_length=1, description="a .npy/.csv file to replay, or tcp://host:port (little-endian float32)"
    )
    sampling_rate: float | None = Field(
        default=None,
        gt=0,
        description="the sensor's rate in Hz, refused unless it is the bundle's; None = the bundle's",
    )
    rpm: float | None = Field(
        default=None,
        gt=0,
        description="the shaft speed, for bundles whose signal representation is in shaft orders "
        "(order_spectrum, envelope_spectrum), when the source has no rpm column",
    )
    realtime: bool = Field(default=True, description="files: pace the replay at the sampling rate")
    max_abs: float = Field(
        default=1e6,
        gt=0,
        description="the sensor's physical range, +- in the samples' unit (e.g. 50 for a +-50 g "
        "accelerometer): windows holding a sample beyond it are counted and skipped",
    )
    bundle: Path = Field(description="a bundle of task signal")
    artifact: str | None = Field(default=None, pattern=r"^[a-z]+-[a-z0-9]+$")
    threads: int | None = Field(default=1, gt=0, description="inference threads; a window is cheap")
    precision: PrecisionChoice = Field(default="auto", description=PRECISION_HELP)
    health: MachineHealthConfig = MachineHealthConfig()
    reconnect: ReconnectConfig = ReconnectConfig()
