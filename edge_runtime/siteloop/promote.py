"""Promotion of the shadow candidate: only on the evidence of its shadow run, then through the bundle switch.

The switch itself (stop the pipeline, swap the store's ``current`` link atomically keeping ``previous``,
start, watch health, roll back by itself on failure) is the device's bundle switch
(``edge_runtime.bundle_switch`` of issue 19: ``BundleStore.add`` and ``BundleSwitch.switch``). This module
adds what the shadow run knows: a candidate is promoted only after it was compared on ``min_compared``
frames, agreed with the live model on at least ``min_agreement`` of them (when set), and never failed,
unless the operator forces it. ``Store`` and ``Switch`` are the two methods it uses, so it runs on issue 19's
classes as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from edge_runtime.errors import ConfigError


class Stored(Protocol):
    id: str


class Store(Protocol):
    def add(self, source: Path, trust: Any, *, expect: str | None = None) -> Stored: ...


class Outcome(Protocol):
    bundle_id: str
    status: str  # "active", "rolled_back" or "unchanged"
    reason: str


class Switch(Protocol):
    def switch(self, bundle_id: str, attempt: str = "") -> Outcome: ...


@dataclass(frozen=True)
class Evidence:
    """How much the shadow run must have seen before a promotion (``--force`` skips it)."""

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


def promote(
    candidate: Path,
    store: Store,
    switch: Switch,
    trust: Any,
    shadow: dict[str, Any] | None,
    evidence: Evidence = Evidence(),
    *,
    force: bool = False,
) -> Outcome:
    """Add the candidate to the store (verified and signature-checked there) and switch to it.

    The outcome says ``active``, or ``rolled_back`` with the reason when it failed its health window
    (the previous bundle then runs again, and the store remembers the failure).
    """
    reason = None if force else not_ready(shadow, candidate, evidence)
    if reason is not None:
        raise ConfigError(f"not promoting {candidate}: {reason} (--force promotes anyway)")
    stored = store.add(candidate, trust)
    return switch.switch(stored.id, attempt="promote")
