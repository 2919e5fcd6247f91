"""The cameras: which model they run, each camera's source and rate, its health checks, and when the
box counts as over capacity."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from edge_runtime.config.base import NAME, PRECISION_HELP, PrecisionChoice, Section


class ModelConfig(Section):
    """Which bundle and artifact to run, and on which device."""

    bundle: Path = Field(default=Path("runs/demo/bundle"), description="bundle directory or .tar.gz")
    artifact: str | None = Field(
        default=None,
        pattern=r"^[a-z]+-[a-z0-9]+$",
        description="format-precision key, e.g. openvino-int8; None = the bundle's recommended artifact",
    )
    device: str = Field(default="CPU", min_length=1, description="OpenVINO device (CPU, GPU, NPU)")
    threads: int | None = Field(
        default=None, gt=0, description="inference threads; None = the runtime's default"
    )
    mode: Literal["latency", "throughput"] = Field(
        default="latency",
        description="latency: one synchronous request (one camera); throughput: OpenVINO streams and an "
        "async infer-request queue, each camera's frame its own request, queued across cameras",
    )
    preprocess: Literal["graph", "host"] = Field(
        default="graph",
        description="graph: OpenVINO artifacts take uint8 frames and do the manifest's colour order, "
        "normalisation and layout in the compiled graph (PrePostProcessor); host: edge_runtime.preprocess "
        "in numpy for every backend (ONNX Runtime always does)",
    )
    precision: PrecisionChoice = Field(default="auto", description=PRECISION_HELP)


class HealthConfig(Section):
    """Thresholds of the camera-health checks (grey levels 0-255 on a 96x72 thumbnail)."""

    enabled: bool = True
    check_every_s: float = Field(default=0.5, ge=0, description="how often the picture checks run")
    hold_s: float = Field(default=3.0, ge=0, description="a condition must last this long to be raised")
    no_frames_s: float = Field(default=5.0, gt=0, description="no frame for this long: camera lost")
    dark_below: float = Field(default=20.0, ge=0, le=255, description="mean grey level")
    sharpness_below: float = Field(
        default=15.0, ge=0, description="variance of the Laplacian: a lens covered in dust or mud is flat"
    )
    frozen_change_below: float = Field(
        default=0.3, ge=0, description="mean absolute grey change between checks: a stuck encoder"
    )


class ReconnectConfig(Section):
    """Back-off between reopening a lost stream or device: doubles from min_s to max_s, with jitter."""

    min_s: float = Field(default=0.5, gt=0)
    max_s: float = Field(default=30.0, gt=0)


class CameraConfig(Section):
    """One frame source: a video file, an image folder, an RTSP/HTTP URL or a device index such as "0"."""

    name: str = Field(pattern=NAME, description="used in events and metrics")
    source: str = Field(min_length=1)
    loop: bool = Field(default=False, description="restart a video file at its end (demo, soak tests)")
    realtime: bool = Field(default=False, description="pace a video file at its native frame rate")
    sub_stream: str | None = Field(
        default=None,
        min_length=1,
        description="the camera's low-resolution stream (e.g. rtsp://.../stream2), decoded instead of "
        "source at a fraction of the cost; events, snapshots and the live view use it",
    )
    stride: int = Field(default=1, gt=0, description="run the model on every stride-th frame")
    infer_fps: float | None = Field(
        default=None,
        gt=0,
        description="run the model on this many frames per second of the camera (the newest frame at each "
        "slot); the frames between are decoded (H.264 needs them) but never converted to BGR; None = every "
        "stride-th frame",
    )
    decode_threads: int | None = Field(
        default=1,
        gt=0,
        description="FFmpeg decoder threads per stream or file; 1 keeps latency lowest and scales to many "
        "cameras (each camera already has its own thread); None = FFmpeg's default (one per core)",
    )
    health: HealthConfig = HealthConfig()
    reconnect: ReconnectConfig = ReconnectConfig()

    @model_validator(mode="after")
    def _one_rate(self) -> CameraConfig:
        if self.infer_fps is not None and self.stride != 1:
            raise ValueError(
                f"stride ({self.stride}) and infer_fps ({self.infer_fps}) both thin the frames; set one"
            )
        return self

    @property
    def stream(self) -> str:
        """What the daemon opens: the sub-stream when there is one."""
        return self.sub_stream or self.source


class CapacityConfig(Section):
    """When the box is over capacity: cameras lose inference slots or get stale frames (a health event)."""

    window_s: float = Field(default=10.0, gt=0, description="judged over this many recent seconds")
    max_dropped: float = Field(
        default=0.02,
        ge=0,
        le=1,
        description="share of a camera's inference slots lost (replaced unseen); cameras with an infer_fps",
    )
    max_frame_age_ms: float = Field(
        default=500.0, gt=0, description="p99 frame age, capture (stream clock) to inference"
    )


class InferenceFailuresConfig(Section):
    """When the model failing on a camera's frames (or a machine's windows) raises a health event.

    A failed frame is counted and skipped, never fatal; ``inference_failing`` is raised once ``raise_after``
    of a source's last ``window`` inferences failed, and ended once a whole window has inferred again."""

    window: int = Field(default=20, ge=1, le=10_000, description="a source's most recent inferences judged")
    raise_after: int = Field(
        default=5, ge=1, description="failed inferences within the window that raise the health event"
    )
    log_every_s: float = Field(
        default=60.0,
        gt=0,
        description="at most one log line per source this often while failures (or rules errors) go on",
    )

    @model_validator(mode="after")
    def _within_window(self) -> InferenceFailuresConfig:
        if self.raise_after > self.window:
            raise ValueError(f"raise_after ({self.raise_after}) cannot exceed window ({self.window})")
        return self
