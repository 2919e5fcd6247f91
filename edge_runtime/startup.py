"""Start-up: a site's bundles verified against its configuration, and the models and monitors built
from them. The daemon (``pipeline.run``), ``replay`` and ``--validate`` all start here, so a site that
passes ``--validate`` is one the daemon will start on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from edge_runtime.beltload import BeltLoadMonitor
from edge_runtime.bundle import Bundle, Manifest, load_bundle
from edge_runtime.config import SiteConfig, check_rule_labels
from edge_runtime.config.cameras import ModelConfig
from edge_runtime.errors import ConfigError
from edge_runtime.model import BundleModel
from edge_runtime.model import load_model as open_model
from edge_runtime.signal_monitor import verify_machine
from edge_runtime.signing import check_signature
from edge_runtime.siteloop.shadow import check_candidate


@dataclass(frozen=True)
class SiteBundles:
    """The verified bundles of a site: the cameras' (None without cameras) and each machine's model.

    ``model`` and ``machines``: the models as the checks compiled them, for the daemon to run, so a
    large IR is compiled once per start (or reload), not once to check it and again to run it.
    """

    cameras: Bundle | None
    machines: dict[str, BundleModel]
    model: BundleModel | None = None

    @property
    def camera_bundle(self) -> Bundle:
        if self.cameras is None:
            raise ConfigError("the configuration has no cameras (only machines)")
        return self.cameras


def verify_site(config: SiteConfig) -> Bundle:
    """Start-up checks of a camera site (see ``verify_daemon``); the cameras' bundle."""
    return verify_daemon(config).camera_bundle


def verify_daemon(config: SiteConfig) -> SiteBundles:
    """Start-up checks needing no camera: bundle digests, artifacts, rule labels among the classes,
    each machine's bundle and recording."""
    machines = {machine.name: verify_machine(machine, i) for i, machine in enumerate(config.machines)}
    for machine in config.machines:  # signed by a trusted key, when the site requires it
        check_signature(machines[machine.name].bundle.root, config.trust, label=str(machine.bundle))
    classes = {name: model.manifest.classes for name, model in machines.items()}
    for index, rule in enumerate(config.rules):
        if rule.camera in machines and (rule.zone is not None or rule.tripwire is not None):
            raise ConfigError(
                f"rules[{index}]: zone and tripwire need a detect bundle; {rule.camera!r} runs 'signal' "
                "(which looks at a whole window)"
            )
    if not config.cameras:
        check_rule_labels(config, [], classes)
        if config.belt_load is not None:
            raise ConfigError("belt_load: needs a camera with a segment bundle; this site has only machines")
        return SiteBundles(None, machines)
    bundle = load_bundle(config.model.bundle)
    check_signature(bundle.root, config.trust, label=str(config.model.bundle))
    # the model against its manifest: shapes, classes (exit 2 naming the field)
    model = load_model(bundle, config.model)
    check_rules(config, bundle.manifest, bundle.root, classes)
    if config.site_loop.shadow is not None:
        check_candidate(config, config.site_loop.shadow, bundle.manifest)
    belt_monitor(config, bundle)
    return SiteBundles(bundle, machines, model)


def check_rules(
    config: SiteConfig,
    manifest: Manifest,
    bundle: Path | str,
    machines: Mapping[str, Sequence[str]] | None = None,
) -> None:
    """Rules the bundle can serve: labels among its classes, zones and tripwires only on detections.

    ``machines``: each machine's classes; None leaves the rules that watch a machine unchecked.
    """
    check_rule_labels(config, manifest.classes, machines)
    if manifest.task != "detect":
        for index, rule in enumerate(config.rules):
            if (rule.zone is not None or rule.tripwire is not None) and rule.camera not in (machines or {}):
                raise ConfigError(
                    f"rules[{index}]: zone and tripwire need a detect bundle; {bundle} is "
                    f"{manifest.task!r} (which looks at the whole frame)"
                )


def belt_monitor(config: SiteConfig, bundle: Bundle) -> BeltLoadMonitor | None:
    """The site's belt-load monitor, or None; belt load is measured on a segment bundle's masks."""
    if config.belt_load is None:
        return None
    if bundle.manifest.task != "segment":
        raise ConfigError(f"belt_load: needs a segment bundle; {bundle.root} is {bundle.manifest.task!r}")
    return BeltLoadMonitor(config.belt_load, bundle.manifest.classes)


def load_model(bundle: Bundle, config: ModelConfig) -> BundleModel:
    return open_model(
        bundle,
        config.artifact,
        precision=config.precision,
        device=config.device,
        threads=config.threads,
        mode=config.mode,
        preprocess=config.preprocess,
    )
