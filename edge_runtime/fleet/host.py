"""The daemon's pipeline on one bundle at a time: ``pipeline.run`` on a thread, stopped and restarted.

This is the ``Runner`` that ``bundle_switch.BundleSwitch`` drives. A bundle is healthy once the
pipeline has started on it (bundle verified and signed, model loaded, rules valid for its classes)
and has run the model on ``min_frames`` frames or signal windows, with no stage stalled; it is
unhealthy when the pipeline fails to start, dies, or stalls.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from edge_runtime.bundle_switch import Health
from edge_runtime.config import SiteConfig
from edge_runtime.inference import PipelineSummary
from edge_runtime.observe import DaemonView
from edge_runtime.pipeline import run
from edge_runtime.signing import manifest_digest
from edge_runtime.siteloop.config import SiteLoopConfig
from edge_runtime.siteloop.promote import Promotions
from edge_runtime.startup import SiteBundles
from edge_runtime.systemd import SystemdNotifier

log = logging.getLogger(__name__)

JOIN_TIMEOUT_S = 60.0  # a stop drains the outbox (drain_timeout_s) and closes the sinks


class _SwitchNotifier(SystemdNotifier):
    """Between two bundles the daemon reloads rather than stops: systemd must not read STOPPING=1 then."""

    def __init__(self, inner: SystemdNotifier) -> None:
        self.__dict__.update(vars(inner))
        self.final = False

    def stopping(self) -> None:
        self.notify("STOPPING=1" if self.final else "RELOADING=1")


class PipelineHost:
    def __init__(
        self,
        config: SiteConfig,
        notifier: SystemdNotifier,
        min_frames: int,
        promotions: Promotions | None = None,
    ) -> None:
        self.config, self.min_frames, self.promotions = config, min_frames, promotions
        self.notifier = _SwitchNotifier(notifier)
        self.bundle: Path | None = None
        self.summary: PipelineSummary | None = None
        self.error: BaseException | None = None
        self.view: DaemonView | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.started_at = 0.0  # monotonic time of the latest start

    def start(self, bundle: Path, verified: SiteBundles | None = None) -> None:
        """Run on ``bundle``; ``verified``: ``verify_daemon(run_config(config, bundle))`` already done (a
        reload's check), whose compiled models the run takes over; None: the run verifies."""
        if self.running:
            raise RuntimeError("the pipeline is already running; stop it first")
        self.bundle, self.view, self.error, self.summary = bundle, None, None, None
        self._stop.clear()
        config = run_config(self.config, bundle)
        self._thread = threading.Thread(
            target=self._main, args=(config, verified), name="pipeline", daemon=True
        )
        self.started_at = time.monotonic()
        self._thread.start()

    def stop(self, *, final: bool = False) -> None:
        """Stop the pipeline (draining the outbox) and wait for it; ``final``: the daemon is exiting."""
        self.notifier.final = final
        self.view = None  # its outbox and captures are about to close: no reader may use them
        self._stop.set()
        if self._thread is not None:
            self._thread.join(JOIN_TIMEOUT_S)
            if self._thread.is_alive():
                log.error("the pipeline did not stop within %.0f s", JOIN_TIMEOUT_S)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def ended(self) -> bool:
        """The run finished by itself (every source ended, or it failed), not because it was stopped."""
        return self._thread is not None and not self._thread.is_alive() and not self._stop.is_set()

    def processed(self) -> int:
        """Frames and signal windows the model has run on in this run."""
        view = self.view
        if view is None:
            return 0
        frames = sum(camera.state()["processed"] for camera in view.cameras)
        return frames + sum(machine.state()["windows"] for machine in view.machines)

    def health(self) -> Health:
        if self.error is not None:
            return Health("unhealthy", f"the pipeline failed: {self.error}")
        if self._thread is None or (not self.running and self._stop.is_set()):
            return Health("starting", "not running")
        if self.ended:
            return Health("unhealthy", "the pipeline ended: every source ended")
        view = self.view
        if view is None:
            return Health("starting", "loading the bundle")
        stalled = view.liveness.stalled() if view.liveness else {}
        if stalled:
            return Health("unhealthy", "stalled: " + ", ".join(f"{k} {v:.0f} s" for k, v in stalled.items()))
        if self.processed() < self.min_frames and self.running:
            return Health("starting", f"{self.processed()} of {self.min_frames} frames run")
        return Health("healthy")

    def _main(self, config: SiteConfig, verified: SiteBundles | None) -> None:
        try:
            self.summary = run(
                config,
                self._stop,
                self.notifier,
                on_view=self._attach,
                promotions=self.promotions,
                verified=verified,
            )
        except BaseException as exc:  # noqa: BLE001 - reported through health(); the supervisor decides
            self.error = exc
            log.error("the pipeline on %s failed: %s", config.model.bundle, exc)
        finally:
            self.view = None

    def _attach(self, view: DaemonView) -> None:
        self.view = view


def run_config(config: SiteConfig, bundle: Path) -> SiteConfig:
    """The site's configuration for a run on ``bundle`` (a store's): the cameras' model from it."""
    model = config.model.model_copy(update={"bundle": bundle})
    return config.model_copy(update={"model": model, "site_loop": _shadow_unless(config, bundle)})


def _shadow_unless(config: SiteConfig, bundle: Path) -> SiteLoopConfig:
    """The site loop's settings for a run on ``bundle``: no shadow run of that same bundle (once a
    candidate is promoted it is the live model; after a rollback it runs in shadow again)."""
    shadow = config.site_loop.shadow
    if shadow is None or not shadow.bundle.is_dir():
        return config.site_loop
    if manifest_digest(shadow.bundle) != manifest_digest(bundle):
        return config.site_loop
    log.info("the shadow candidate %s is the live bundle now: no shadow run", shadow.bundle)
    return config.site_loop.model_copy(update={"shadow": None})
