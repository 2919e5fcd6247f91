"""The site configuration of the daemon: typed, validated once at start-up, then read-only.

A site YAML names the bundle to run, the cameras, the monitored machines (vibration), the rules that
turn predictions into events and where events go. Unknown keys are refused and every error names the
field's YAML path and the file, so a typo stops the daemon before it opens a camera rather than
silently running with a default. Relative paths are resolved from the working directory the daemon is
started in.

The sections live beside this module, one per job (``cameras``, ``machines``, ``rules``, ``belt``,
``sinks``, ``daemon``; the site loop's and the fleet's in their packages); ``SiteConfig`` joins them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from pydantic import Field, model_validator

from edge_runtime.config.base import ANY_CAMERA, Section
from edge_runtime.config.belt import BeltLoadConfig
from edge_runtime.config.cameras import CameraConfig, CapacityConfig, InferenceFailuresConfig, ModelConfig
from edge_runtime.config.daemon import HttpConfig, OpcUaConfig, SnapshotConfig, WatchdogConfig
from edge_runtime.config.machines import MachineConfig
from edge_runtime.config.rules import RuleConfig
from edge_runtime.config.sinks import OutboxConfig, SinksConfig
from edge_runtime.errors import ConfigError
from edge_runtime.fleet.config import FleetConfig, TrustConfig
from edge_runtime.siteloop.config import SiteLoopConfig
from edge_runtime.yamlconfig import load_config


def _demo_cameras() -> list[CameraConfig]:
    return [CameraConfig(name="belt", source="runs/demo/data/video/belt.avi")]


class SiteConfig(Section):
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
    capacity: CapacityConfig = CapacityConfig()
    inference_failures: InferenceFailuresConfig = InferenceFailuresConfig()
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
                machines = ", ".join(m.name for m in self.machines)
                machines = f"; the machines: {machines}" if machines else ""
                raise ValueError(
                    f"rules[{index}].camera: no camera {rule.camera!r}; the cameras are: "
                    f"{', '.join(c.name for c in self.cameras) or 'none'}{machines} "
                    f'(or "{ANY_CAMERA}" for all)'
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
