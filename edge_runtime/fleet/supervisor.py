"""``edge_runtime run`` with a ``fleet`` or ``site_loop.promote`` section: the store's current bundle
runs, switched on request.

The bundle store is seeded once from ``model.bundle`` (verified and signed like any other); from then
on the store's ``current`` bundle runs, whatever ``model.bundle`` says. The fleet agent fetches and
verifies desired bundles on its own threads, and a promotion verifies its candidate on the HTTP
handler's, while the old bundle keeps running; the switch itself (stop, swap the link, start, watch
health, roll back) happens here, one at a time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from edge_runtime.bundle_switch import BundleStore, BundleSwitch
from edge_runtime.config import SiteConfig
from edge_runtime.errors import BundleError, ConfigError
from edge_runtime.fleet.agent import FleetAgent
from edge_runtime.fleet.host import PipelineHost, run_config
from edge_runtime.inference import PipelineSummary
from edge_runtime.siteloop.promote import Evidence, Promotions
from edge_runtime.startup import SiteBundles, verify_daemon
from edge_runtime.systemd import SystemdNotifier

log = logging.getLogger(__name__)


def seed_store(store: BundleStore, config: SiteConfig) -> None:
    """An empty store gets ``model.bundle`` as its current bundle; a store with one keeps it."""
    if store.current() is not None:
        log.info("fleet: running the store's current bundle %s (model.bundle only seeds it)", store.current())
        return
    stored = store.add(config.model.bundle, config.trust)
    store.activate(stored.id)
    log.info(
        "fleet: store %s seeded with %s (%s %s)",
        store.root,
        config.model.bundle,
        stored.manifest.name,
        stored.manifest.version,
    )


def supervised(config: SiteConfig) -> bool:
    """The site runs its bundle store's current bundle (``run_supervised``), not ``model.bundle``."""
    return config.fleet is not None or config.site_loop.promote is not None


def verify_supervised(config: SiteConfig) -> SiteBundles:
    """A reload's check of a supervised site: the configuration against the store's current bundle, the
    one the run starts on (``model.bundle`` only seeds an empty store); its compiled models are handed
    to ``run_supervised``, so a reload compiles the model once."""
    current = BundleStore(_settings(config)[0]).current()
    return verify_daemon(config if current is None else run_config(config, current))


def run_supervised(
    config: SiteConfig,
    stop: threading.Event,
    notifier: SystemdNotifier | None = None,
    *,
    verified: SiteBundles | None = None,
) -> PipelineSummary:
    """Run until ``stop`` is set or every source ends, switching bundles when the fleet agent or a
    promotion asks; a bundle that cannot start at boot is an error. ``verified``: ``verify_supervised``
    done by a reload, taken over by the first run when it is still of the store's current bundle."""
    fleet, promote = config.fleet, config.site_loop.promote
    root, window_s, min_frames = _settings(config)
    store = BundleStore(root)
    seed_store(store, config)
    promotions = None
    if promote is not None:
        promotions = Promotions(store, config.trust, Evidence(promote.min_compared, promote.min_agreement))
    host = PipelineHost(config, notifier or SystemdNotifier(None), min_frames, promotions)
    switch = BundleSwitch(store, host, window_s)
    agent = FleetAgent(config, store, host) if fleet is not None else None
    try:
        current = store.current()
        if current is None:
            raise BundleError(f"{store.root}: no current bundle")
        host.start(current, verified if _of(verified, current) else None)
        while not stop.is_set() and not host.ended:
            if promotions is not None and (promotion := promotions.next(0.0 if agent else 0.5)):
                log.info("promoting %s (%s)", promotion.candidate, promotion.bundle_id[:16])
                with _switching(agent):
                    outcome = switch.switch(promotion.bundle_id, attempt=f"promote {promotion.id}")
                promotions.finish(promotion, outcome)
                continue
            request = agent.next_switch(timeout_s=0.5) if agent is not None else None
            if request is None:
                continue
            try:
                with _switching(agent):
                    request.outcome = switch.switch(request.bundle_id, attempt=request.rollout)
            finally:
                request.done.set()
        if host.error is not None:
            raise host.error
    finally:
        host.stop(final=True)
        if agent is not None:
            agent.close()
    if host.summary is None:
        raise RuntimeError("the pipeline stopped without a summary")
    return host.summary


def _settings(config: SiteConfig) -> tuple[Path, float, int]:
    """The store, the health window and the frames a new bundle must run: the fleet's, else promote's."""
    fleet, promote = config.fleet, config.site_loop.promote
    if fleet is not None:
        return fleet.store, fleet.health.window_s, fleet.health.min_frames
    if promote is not None:
        return promote.store, promote.window_s, promote.min_frames
    raise ConfigError("run_supervised: the configuration has neither fleet nor site_loop.promote")


def _of(verified: SiteBundles | None, bundle: Path) -> bool:
    """``verified`` was checked (and compiled) on ``bundle``: a machines-only site's, on any."""
    if verified is None:
        return False
    return verified.cameras is None or verified.cameras.root.resolve() == bundle.resolve()


@contextmanager
def _switching(agent: FleetAgent | None) -> Iterator[None]:
    """The fleet state says ``switching`` for the duration of one switch."""
    if agent is not None:
        agent.state = "switching"
    try:
        yield
    finally:
        if agent is not None:
            agent.state = "running"
