"""Promotion of the shadow candidate: only on the evidence of its shadow run, then through the bundle switch.

The switch itself (stop the pipeline, swap the store's ``current`` link atomically keeping ``previous``,
start, watch health, roll back by itself on failure) is the device's bundle switch
(``edge_runtime.bundle_switch``: ``BundleStore.add`` and ``BundleSwitch.switch``). This module adds what
the shadow run knows: a candidate is promoted only after it was compared on ``min_compared`` frames,
agreed with the live model on at least ``min_agreement`` of them (when set), never failed, and did not
already fail its health window on this device, unless the operator forces it.

``Promotions`` is the desk between the two sides of the daemon: the HTTP handler (``POST /api/promote``)
checks the evidence and verifies the candidate into the store while the live bundle keeps running, then
queues the switch; the supervisor, which outlives the pipeline it restarts, performs it and records the
outcome, which ``/status`` shows as ``promotion``.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edge_runtime.bundle_switch import BundleStore, SwitchOutcome
from edge_runtime.errors import ConfigError
from edge_runtime.events import utc_iso
from edge_runtime.fleet.config import TrustConfig


@dataclass(frozen=True)
class Evidence:
    """How much the shadow run must have seen before a promotion (``force`` skips it)."""

    min_compared: int = 200
    min_agreement: float | None = None  # None: a candidate meant to fix the live model may disagree


def not_ready(shadow: dict[str, Any] | None, candidate: Path, evidence: Evidence) -> str | None:
    """Why the candidate may not be promoted yet, from /status's ``site_loop.shadow``; None when it may."""
    if shadow is None:
        return "no candidate runs in shadow (site_loop.shadow)"
    if Path(shadow["bundle"]).resolve() != candidate.resolve():
        return f"the candidate in shadow is {shadow['bundle']}, not {candidate}"
    if shadow["error"]:
        return f"the candidate failed in shadow: {shadow['error']}"
    if shadow["compared"] < evidence.min_compared:
        return f"compared on {shadow['compared']} frames, fewer than {evidence.min_compared}"
    agreement = shadow["agreement"]
    if evidence.min_agreement is not None and (agreement is None or agreement < evidence.min_agreement):
        return f"agreement {agreement} below {evidence.min_agreement}"
    return None


class NotPromoted(ConfigError):
    """The candidate may not be promoted (yet): the reason says why; ``force`` overrides the evidence."""


@dataclass
class Promotion:
    """One request, from the moment it was queued to its outcome (what /status shows)."""

    id: str
    candidate: str
    bundle_id: str
    by: str
    forced: bool
    requested: str
    status: str = "queued"  # queued -> switching -> active | rolled_back | unchanged
    reason: str = ""
    finished: str | None = None

    def view(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Promotions:
    """Promotion requests from the dashboard's API to the supervisor, and the latest one's outcome."""

    store: BundleStore
    trust: TrustConfig
    evidence: Evidence = Evidence()
    clock: Callable[[], float] = time.time  # wall clock: the times shown are the operator's
    _queue: queue.Queue[Promotion] = field(default_factory=queue.Queue, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _latest: Promotion | None = field(default=None, init=False)

    def request(
        self, candidate: Path, shadow: dict[str, Any] | None, *, by: str = "", force: bool = False
    ) -> Promotion:
        """Check the evidence, verify the candidate into the store (BundleError if it fails), queue it."""
        reason = None if force else not_ready(shadow, candidate, self.evidence)
        if reason is not None:
            raise NotPromoted(f"not promoting {candidate}: {reason} (force promotes anyway)")
        with self._lock:
            if self._latest is not None and self._latest.finished is None:
                raise NotPromoted(f"not promoting {candidate}: promotion {self._latest.id} is still running")
            stored = self.store.add(candidate, self.trust)
            failed = self.store.failed().get(stored.id)
            if failed is not None and not force:
                raise NotPromoted(
                    f"not promoting {candidate}: it failed its health check on this device before "
                    f"({failed.reason}) (force promotes anyway)"
                )
            requested = utc_iso(self.clock())
            promotion = Promotion(uuid.uuid4().hex[:12], str(candidate), stored.id, by, force, requested)
            self._latest = promotion
        self._queue.put(promotion)
        return promotion

    def next(self, timeout_s: float) -> Promotion | None:
        """The next queued promotion (the supervisor's side), marked ``switching``; None after the timeout."""
        try:
            promotion = self._queue.get(timeout=timeout_s) if timeout_s > 0 else self._queue.get_nowait()
        except queue.Empty:
            return None
        with self._lock:
            promotion.status = "switching"
        return promotion

    def finish(self, promotion: Promotion, outcome: SwitchOutcome) -> None:
        with self._lock:
            promotion.status, promotion.reason = outcome.status, outcome.reason
            promotion.finished = utc_iso(self.clock())

    def state(self) -> dict[str, Any]:
        with self._lock:
            latest = self._latest.view() if self._latest is not None else None
        return {"evidence": asdict(self.evidence), "latest": latest}
