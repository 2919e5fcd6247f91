"""The site configuration of the daemon: typed, validated once at start-up, then read-only.

A site YAML names the bundle to run, the cameras, the monitored machines (vibration), the rules that
turn predictions into events and where events go. Unknown keys are refused and every error names the field's YAML path and the file,
so a typo stops the daemon before it opens a camera rather than silently running with a default.
Relative paths are resolved from the working directory the daemon is started in.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from edge_runtime.errors import ConfigError
from edge_runtime.fleet.config import FleetConfig, TrustConfig
from edge_runtime.siteloop.config import SiteLoopConfig
from edge_runtime.yamlconfig import load_config

ANY_CAMERA = "*"
NAME = r"^[A-Za-z0-9_.-]+$"  # camera, machine, rule and event-type names: also one MQTT topic level
# An MQTT topic to publish to: no wildcards, no NUL, not a broker's $-topic (RFC: MQTT 3.1.1, 4.7)
TOPIC = r"^[^#+$\x00][^#+\x00]*$"
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Point = tuple[Fraction, Fraction]  # (x, y) in 0..1 of the frame: a point outside it can never be reached


class _Section(BaseModel):
    # inf/nan passed as a quota or a timeout validate as "greater than 0" and then crash the run
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# auto: the precision the bundle's gate measured the artifact in; default: the runtime's own choice
# (OpenVINO computes FP32 in bf16 on CPUs that have it); f32/bf16/f16: forced.
PrecisionChoice = Literal["auto", "default", "f32", "bf16", "f16"]
PRECISION_HELP = "inference precision: auto = as the bundle's accuracy gate measured it, default = the runtime's choice"


class ModelConfig(_Section):
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
        "async infer-request queue, each camera's frame its own request (many cameras)",
    )
    precision: PrecisionChoice = Field(default="auto", description=PRECISION_HELP)


class HealthConfig(_Section):
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


class ReconnectConfig(_Section):
    """Back-off between reopening a lost stream or device: doubles from min_s to max_s, with jitter."""

    min_s: float = Field(default=0.5, gt=0)
    max_s: float = Field(default=30.0, gt=0)


class CameraConfig(_Section):
    """One frame source: a video file, an image folder, an RTSP/HTTP URL or a device index such as "0"."""

    name: str = Field(pattern=NAME, description="used in events and metrics")
    source: str = Field(min_length=1)
    loop: bool = Field(default=False, description="restart a video file at its end (demo, soak tests)")
    realtime: bool = Field(default=False, description="pace a video file at its native frame rate")
    stride: int = Field(default=1, gt=0, description="run the model on every stride-th frame")
    health: HealthConfig = HealthConfig()
    reconnect: ReconnectConfig = ReconnectConfig()


class MachineHealthConfig(_Section):
    """The health index: an EMA of P(not normal) per window, and its least-squares trend."""

    normal_label: str = Field(default="normal", min_length=1, description="the bundle's healthy class")
    smoothing: float = Field(default=0.1, gt=0, le=1, description="EMA weight of the newest window")
    trend_windows: int = Field(default=50, ge=2, description="windows the trend slope is fitted over")


class MachineConfig(_Section):
    """A monitored machine: vibration samples classified window by window by a ``signal`` bundle.

    Its name is the "camera" of its events and rules, so rules watch a machine as they watch a camera.
    """

    name: str = Field(pattern=NAME, description="used in events and metrics")
    source: str = Field(
        min_length=1, description="a .npy/.csv file to replay, or tcp://host:port (little-endian float32)"
    )
    sampling_rate: float | None = Field(
        default=None, gt=0, description="the sensor's rate in Hz, refused unless it is the bundle's; None = the bundle's"
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


class DebounceConfig(_Section):
    """An event starts when ``hits`` of the last ``window`` frames match."""

    hits: int = Field(default=3, gt=0)
    window: int = Field(default=5, gt=0)

    @model_validator(mode="after")
    def _hits_fit_window(self) -> DebounceConfig:
        if self.hits > self.window:
            raise ValueError(f"hits ({self.hits}) cannot exceed window ({self.window})")
        return self


class TripwireConfig(_Section):
    """A directed line a->b in 0..1 of the frame; detections count when their bottom-centre crosses it."""

    line: tuple[Point, Point]
    direction: Literal["left_to_right", "right_to_left", "any"] = Field(
        default="any", description="seen walking from a towards b: from its left-hand side to its right"
    )
    max_jump: float = Field(default=0.2, gt=0, le=1, description="how far an object may move between frames")

    @model_validator(mode="after")
    def _has_length(self) -> TripwireConfig:
        if self.line[0] == self.line[1]:
            raise ValueError(f"line: both ends are {list(self.line[0])}; a tripwire needs two distinct points")
        return self


class RuleConfig(_Section):
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


class SpeedConfig(_Section):
    """The recommended belt speed: proportional to the load, within limits, with a dead band and a ramp."""

    min_mps: float = Field(default=1.0, gt=0, description="slowest speed the drive may run (m/s)")
    max_mps: float = Field(default=2.5, gt=0, description="full (design) speed, m/s")
    full_load: float = Field(
        default=0.7,
        gt=0,
        le=1,
        description="smoothed load at which the belt needs full speed; below it the speed scales with the load, "
        "so the coal per metre stays at this design level",
    )
    deadband_mps: float = Field(
        default=0.1, ge=0, description="hysteresis: the set point moves only when the target differs by this much"
    )
    max_accel_mps2: float = Field(default=0.2, gt=0, description="rate limit of the recommendation (m/s per s)")
    report_step_mps: float = Field(
        default=0.25, gt=0, description="a belt_speed event each time the recommendation moved this far"
    )

    @model_validator(mode="after")
    def _ordered(self) -> SpeedConfig:
        if self.min_mps > self.max_mps:
            raise ValueError(f"min_mps ({self.min_mps}) cannot exceed max_mps ({self.max_mps})")
        return self


class OverloadConfig(_Section):
    """An overload event starts when the smoothed load stays at or above ``above`` for ``hold_s``."""

    above: float = Field(default=0.8, gt=0, le=1, description="smoothed load that starts an overload")
    below: float = Field(default=0.72, ge=0, le=1, description="smoothed load that ends it (hysteresis)")
    hold_s: float = Field(default=1.0, ge=0, description="video seconds the load must stay above to start")

    @model_validator(mode="after")
    def _hysteresis(self) -> OverloadConfig:
        if self.below >= self.above:
            raise ValueError(f"below ({self.below}) must be less than above ({self.above})")
        return self


class BeltLoadConfig(_Section):
    """Belt load from a segment bundle: the coal class's share of a belt region, smoothed, and a speed."""

    camera: str = Field(default=ANY_CAMERA, description='the camera that sees the belt, or "*" for every camera')
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


class JsonlSinkConfig(_Section):
    path: Path = Path("runs/demo/events/events.jsonl")


class MqttTlsConfig(_Section):
    """TLS to the broker; without ``ca_file`` the system's certificate store is used."""

    ca_file: Path | None = None
    cert_file: Path | None = Field(default=None, description="client certificate (mutual TLS)")
    key_file: Path | None = None
    insecure: bool = Field(default=False, description="skip hostname verification (test benches only)")


class MqttStateConfig(_Section):
    """Retained state topics a PLC or Node-RED reads: ``{topic}/{client_id}/camera|machine|belt/{name}``."""

    topic: str = Field(default="adit/state", pattern=r"^[^#+]+$", description="prefix; the device: client_id")
    every_s: float = Field(default=1.0, gt=0, le=60, description="how often state is read (sent if changed)")


class MqttSinkConfig(_Section):
    """Events published with QoS 1 to ``{topic}/{camera}/{type}``; a retained availability topic."""

    host: str = Field(default="localhost", min_length=1)
    port: int = Field(default=1883, gt=0, lt=65536)
    client_id: str = Field(
        default="adit-edge", pattern=r"^[A-Za-z0-9_.-]+$", description="fixed, for a persistent session"
    )
    topic: str = Field(default="adit/events", pattern=TOPIC, max_length=1024)
    availability_topic: str = Field(
        default="adit/status/{device}",
        pattern=TOPIC,
        max_length=1024,
        description='retained "online"; last will "offline"; {device} is replaced by client_id '
        "(it was the shared adit/status before the fleet: set that to keep it)",
    )
    username: str | None = None
    password: SecretStr | None = None
    tls: MqttTlsConfig | None = None
    keepalive_s: int = Field(default=30, ge=5)
    publish_timeout_s: float = Field(default=5.0, gt=0, description="wait for the broker's PUBACK")
    state: MqttStateConfig | None = Field(
        default=MqttStateConfig(), description="retained state topics beside the events; null: none"
    )
    resubscribe_grace_s: float = Field(
        default=2.0,
        ge=0,
        description="after connecting to a broker that kept no session (restarted without persistence), "
        "wait this long before publishing, so subscribers can re-subscribe first",
    )


class WebhookSinkConfig(_Section):
    """Each event POSTed as JSON; any 2xx answer counts as delivered."""

    url: str = Field(pattern=r"^https?://")
    timeout_s: float = Field(default=5.0, gt=0)
    headers: dict[str, SecretStr] = Field(
        default_factory=dict, description="e.g. Authorization; never logged"
    )


class SinksConfig(_Section):
    """Where events are delivered; each sink is enabled by its section."""

    jsonl: JsonlSinkConfig | None = JsonlSinkConfig()
    mqtt: MqttSinkConfig | None = None
    webhook: WebhookSinkConfig | None = None


class OutboxConfig(_Section):
    """The durable queue between rules and sinks: every event is committed here before delivery."""

    path: Path = Field(default=Path("runs/demo/outbox.sqlite"), description="SQLite database (WAL)")
    max_events: int = Field(
        default=100_000, gt=0, description="bound; beyond it the OLDEST undelivered events are dropped"
    )
    retry_min_s: float = Field(default=0.5, gt=0, description="first back-off after a failed delivery")
    retry_max_s: float = Field(default=30.0, gt=0)
    drain_timeout_s: float = Field(
        default=10.0, ge=0, description="at shutdown, how long sinks may catch up before the rest waits"
    )
    max_attempts: int = Field(
        default=5,
        ge=1,
        description="a sink that refuses one event this many times (HTTP 400/413/422, an invalid topic, an "
        "unreadable row) moves it to the dead-letter table and goes on; outages are retried forever",
    )


def _demo_cameras() -> list[CameraConfig]:
    return [CameraConfig(name="belt", source="runs/demo/data/video/belt.avi")]


class WatchdogConfig(_Section):
    """When a stage counts as hung: /healthz turns red and systemd's watchdog is no longer petted."""

    stall_s: float = Field(
        default=60.0,
        gt=0,
        description="a stage (inference, a sink's delivery) busy this long is stalled; keep it above "
        "the sinks' timeouts and the first inference's warm-up",
    )
    no_progress_s: float = Field(
        default=20.0,
        gt=0,
        description="a sink that delivers nothing this long while events wait turns /healthz red; one whose "
        "delivery loop does not even try (dead or wedged) also stops the watchdog",
    )


class HttpConfig(_Section):
    """The daemon's one HTTP endpoint: the dashboard, /healthz, /metrics (Prometheus), /status (JSON)."""

    enabled: bool = True
    host: str = Field(default="127.0.0.1", description="localhost only unless you mean it")
    port: int = Field(default=8390, ge=0, lt=65536, description="0 = any free port (logged)")
    token: SecretStr | None = Field(
        default=None,
        min_length=16,
        description="required unless host is a loopback address; browsers open /?token=..., "
        "scrapers send 'Authorization: Bearer ...'",
    )
    live_fps: float = Field(
        default=5.0, gt=0, le=30, description="most frames per second a live view is sent and encoded"
    )
    live_width: int = Field(default=960, ge=160, description="live frames are scaled down to this width")
    acks_path: Path | None = Field(
        default=None, description="the control room's acknowledgements (SQLite); None: acks.sqlite by the outbox"
    )
    benchmark: Path | None = Field(
        default=Path("runs/demo/bench/results.json"),
        description="benchmark results.json shown on the model page when the file exists",
    )

    @model_validator(mode="after")
    def _token_off_loopback(self) -> HttpConfig:
        # Cameras and alarms of a mine are not for anyone on the network to watch.
        if self.enabled and self.token is None and not is_loopback(self.host):
            raise ValueError(
                f"http.token is required when http.host is {self.host!r} (not a loopback address): "
                "set a long random token, or host: 127.0.0.1"
            )
        return self


def is_loopback(host: str) -> bool:
    """True for localhost and 127.0.0.0/8, ::1; False for a wildcard, a LAN address or any other name."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class OpcUaConfig(_Section):
    """SCADA: an OPC UA server with each camera's and machine's state as read-only nodes (off by default)."""

    enabled: bool = False
    host: str = Field(default="127.0.0.1", description="localhost only unless the SCADA network needs it")
    port: int = Field(default=4840, ge=0, lt=65536, description="OPC UA's port; 0 = any free port (logged)")
    namespace: str = Field(default="urn:adit:edge", min_length=1, description="namespace URI of adit's nodes")
    update_every_s: float = Field(default=1.0, gt=0, le=60, description="how often the nodes are refreshed")


class SnapshotConfig(_Section):
    """JPEGs of the frames that start events, boxes and zones drawn, under a disk quota."""

    enabled: bool = False
    folder: Path = Path("runs/demo/snapshots")
    quota_mb: float = Field(default=500.0, gt=0, description="oldest snapshots are deleted beyond it")
    jpeg_quality: int = Field(default=85, ge=10, le=100)


class SiteConfig(_Section):
    """Everything one daemon process runs."""

    model: ModelConfig = ModelConfig()
    cameras: list[CameraConfig] = Field(default_factory=list, description="default: the demo camera")
    machines: list[MachineConfig] = Field(default_factory=list)
    rules: list[RuleConfig] = Field(default_factory=list)
    belt_load: BeltLoadConfig | None = Field(default=None, description="needs a segment bundle")
    sinks: SinksConfig = SinksConfig()
    outbox: OutboxConfig = OutboxConfig()
    http: HttpConfig = HttpConfig()
    snapshots: SnapshotConfig = SnapshotConfig()
    watchdog: WatchdogConfig = WatchdogConfig()
    opcua: OpcUaConfig = OpcUaConfig()
    trust: TrustConfig = Field(default=TrustConfig(), description="signers whose bundles this device runs")
    fleet: FleetConfig | None = Field(default=None, description="managed over the broker (docs/fleet.md)")
    site_loop: SiteLoopConfig = SiteLoopConfig()

    @model_validator(mode="before")
    @classmethod
    def _demo_camera_unless_machines(cls, data: object) -> object:
        """No cameras and no machines configured: the demo camera (a machines-only site has none)."""
        if isinstance(data, dict) and "cameras" not in data and not data.get("machines"):
            return {**data, "cameras": _demo_cameras()}
        return data

    @model_validator(mode="after")
    def _consistent_names(self) -> SiteConfig:
        if not self.cameras and not self.machines:
            raise ValueError("a site needs at least one camera or machine")
        names = self.sources
        _refuse_duplicates("cameras", [camera.name for camera in self.cameras])
        _refuse_duplicates("machines", [machine.name for machine in self.machines])
        _refuse_duplicates("cameras and machines", names)
        _refuse_duplicates("rules", [rule.name for rule in self.rules])
        for index, rule in enumerate(self.rules):
            if rule.camera != ANY_CAMERA and rule.camera not in names:
                machines = f"; the machines: {', '.join(m.name for m in self.machines)}" if self.machines else ""
                raise ValueError(
                    f"rules[{index}].camera: no camera {rule.camera!r}; the cameras are: "
                    f'{", ".join(c.name for c in self.cameras) or "none"}{machines} (or "{ANY_CAMERA}" for all)'
                )
        cameras = [camera.name for camera in self.cameras]
        belt = self.belt_load
        if belt is not None and belt.camera != ANY_CAMERA and belt.camera not in cameras:
            raise ValueError(
                f"belt_load.camera: no camera {belt.camera!r}; the cameras are: "
                f'{", ".join(cameras)} (or "{ANY_CAMERA}" for all)'
            )
        return self

    @model_validator(mode="after")
    def _fleet_needs_broker_and_signers(self) -> SiteConfig:
        if self.fleet is not None and self.sinks.mqtt is None:
            raise ValueError("fleet: needs sinks.mqtt, the broker the fleet is managed over")
        if self.fleet is not None and not self.trust.required:
            raise ValueError("fleet: needs trust.keys; a fleet device runs only signed bundles")
        return self

    @property
    def sources(self) -> list[str]:
        """The names events can come from: the cameras, then the machines."""
        return [camera.name for camera in self.cameras] + [machine.name for machine in self.machines]

    def camera(self, name: str | None = None) -> CameraConfig:
        """The camera called ``name``, or the first one when ``name`` is None."""
        if not self.cameras:
            raise ConfigError("the configuration has no cameras (only machines)")
        if name is None:
            return self.cameras[0]
        for camera in self.cameras:
            if camera.name == name:
                return camera
        raise ConfigError(
            f"no camera {name!r} in the configuration; it has: {', '.join(c.name for c in self.cameras)}"
        )


def _polygon_area(points: Sequence[tuple[float, float]]) -> float:
    """The shoelace formula: the area of a simple polygon, in frame fractions squared."""
    twice = sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(points, [*points[1:], points[0]], strict=True))
    return abs(twice) / 2.0


def _refuse_duplicates(section: str, names: list[str]) -> None:
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"{section}: names must be unique; repeated: {', '.join(repeated)}")


def load_site_config(path: str | Path | None, overrides: Sequence[str] = ()) -> SiteConfig:
    """Read a site YAML (or the demo defaults when None), apply ``key.sub=value`` overrides, validate."""
    return load_config(SiteConfig, path, list(overrides))


def check_rule_labels(
    config: SiteConfig, classes: Sequence[str], machines: Mapping[str, Sequence[str]] | None = None
) -> None:
    """Refuse rules naming labels no bundle they watch can predict (a typo would never fire).

    ``classes``: the cameras' bundle; ``machines``: each machine's bundle classes (None leaves the
    rules that watch a machine unchecked, e.g. a rule drawn on the dashboard).
    """
    cameras = [camera.name for camera in config.cameras]
    for index, rule in enumerate(config.rules):
        watched = [machine.name for machine in config.machines if rule.watches(machine.name)]
        if watched and machines is None:
            continue
        on_cameras = classes if any(rule.watches(camera) for camera in cameras) else []
        known = dict.fromkeys([*on_cameras, *(label for name in watched for label in (machines or {})[name])])
        unknown = [label for label in rule.labels if label not in known]
        if unknown:
            raise ConfigError(
                f"rules[{index}].labels: {', '.join(map(repr, unknown))} not among the bundle's classes; "
                f"valid: {', '.join(known)}"
            )
