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

from edge_runtime.bundle_switch import BundleStore, BundleSwitch
from edge_runtime.config import SiteConfig
from edge_runtime.errors import BundleError, ConfigError
from edge_runtime.fleet.agent import FleetAgent
from edge_runtime.fleet.host import PipelineHost
from edge_runtime.inference import PipelineSummary
from edge_runtime.siteloop.promote import Evidence, Promotions
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


def run_supervised(
    config: SiteConfig, stop: threading.Event, notifier: SystemdNotifier | None = None
) -> PipelineSummary:
    """Run until ``stop`` is set or every source ends, switching bundles when the fleet agent or a
    promotion asks; a bundle that cannot start at boot is an error."""
    fleet, promote = config.fleet, config.site_loop.promote
    if fleet is not None:
        root, window_s, min_frames = fleet.store, fleet.health.window_s, fleet.health.min_frames
    elif promote is not None:
        root, window_s, min_frames = promote.store, promote.window_s, promote.min_frames
    else:
        raise ConfigError("run_supervised: the configuration has neither fleet nor site_loop.promote")
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
        host.start(current)
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
