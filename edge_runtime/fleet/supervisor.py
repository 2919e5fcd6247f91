"""``edge_runtime run`` with a ``fleet`` section: the store's current bundle runs, switched on request.

The bundle store is seeded once from ``model.bundle`` (verified and signed like any other); from then
on the store's ``current`` bundle runs, whatever ``model.bundle`` says. The fleet agent fetches and
verifies desired bundles on its own threads while the old bundle keeps running; the switch itself
(stop, swap the link, start, watch health, roll back) happens here, one at a time.
"""

from __future__ import annotations

import logging
import threading

from edge_runtime.bundle_switch import BundleStore, BundleSwitch
from edge_runtime.config import SiteConfig
from edge_runtime.errors import BundleError, ConfigError
from edge_runtime.fleet.agent import FleetAgent
from edge_runtime.fleet.host import PipelineHost
from edge_runtime.inference import PipelineSummary
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


def run_fleet(
    config: SiteConfig, stop: threading.Event, notifier: SystemdNotifier | None = None
) -> PipelineSummary:
    """Run until ``stop`` is set or every source ends; a bundle that cannot start at boot is an error."""
    if config.fleet is None:
        raise ConfigError("run_fleet: the configuration has no fleet section")
    store = BundleStore(config.fleet.store)
    seed_store(store, config)
    host = PipelineHost(config, notifier or SystemdNotifier(None), config.fleet.health.min_frames)
    switch = BundleSwitch(store, host, config.fleet.health.window_s)
    agent = FleetAgent(config, store, host)
    try:
        current = store.current()
        if current is None:
            raise BundleError(f"{store.root}: no current bundle")
        host.start(current)
        while not stop.is_set() and not host.ended:
            request = agent.next_switch(timeout_s=0.5)
            if request is None:
                continue
            agent.state = "switching"
            try:
                request.outcome = switch.switch(request.bundle_id, attempt=request.rollout)
            finally:
                agent.state = "running"
                request.done.set()
        if host.error is not None:
            raise host.error
    finally:
        host.stop(final=True)
        agent.close()
    if host.summary is None:
        raise RuntimeError("the pipeline stopped without a summary")
    return host.summary
