"""Promotion waits for the shadow run's evidence, then goes through the bundle switch's two calls."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from edge_runtime.errors import ConfigError
from edge_runtime.siteloop.promote import Evidence, not_ready, promote


def _shadow(
    bundle: Path, compared: int = 500, agreement: float | None = 0.97, error: str | None = None
) -> dict:
    return {"bundle": str(bundle), "compared": compared, "agreement": agreement, "error": error}


def test_not_ready_until_enough_frames_agree_and_nothing_failed(tmp_path):
    candidate = tmp_path / "candidate"
    evidence = Evidence(min_compared=200, min_agreement=0.9)
    assert not_ready(_shadow(candidate), candidate, evidence) is None
    assert "fewer than 200" in not_ready(_shadow(candidate, compared=10), candidate, evidence)
    assert "agreement 0.5" in not_ready(_shadow(candidate, agreement=0.5), candidate, evidence)
    assert "failed in shadow" in not_ready(_shadow(candidate, error="boom"), candidate, evidence)
    assert "not " in not_ready(_shadow(tmp_path / "other"), candidate, evidence)
    assert "no candidate" in not_ready(None, candidate, evidence)
    assert not_ready(_shadow(candidate, agreement=0.5), candidate, Evidence(min_compared=200)) is None


@dataclass
class _Stored:
    id: str


@dataclass
class _Outcome:
    bundle_id: str
    status: str
    reason: str = ""


class _Store:
    def __init__(self) -> None:
        self.added: list[Path] = []

    def add(self, source: Path, trust: object, *, expect: str | None = None) -> _Stored:
        self.added.append(source)
        return _Stored("ab" * 32)


class _Switch:
    def __init__(self, status: str) -> None:
        self.status, self.calls = status, []

    def switch(self, bundle_id: str, attempt: str = "") -> _Outcome:
        self.calls.append((bundle_id, attempt))
        return _Outcome(bundle_id, self.status, "" if self.status == "active" else "not healthy within 30 s")


def test_promote_adds_then_switches_and_reports_a_rollback(tmp_path):
    candidate = tmp_path / "candidate"
    store, switch = _Store(), _Switch("active")
    assert promote(candidate, store, switch, None, _shadow(candidate)).status == "active"
    assert store.added == [candidate] and switch.calls == [("ab" * 32, "promote")]
    back = promote(candidate, _Store(), _Switch("rolled_back"), None, _shadow(candidate))
    assert back.status == "rolled_back" and "not healthy" in back.reason
    with pytest.raises(ConfigError, match="--force"):
        promote(candidate, _Store(), _Switch("active"), None, _shadow(candidate, compared=3))
    forced = _Switch("active")
    assert promote(candidate, _Store(), forced, None, None, force=True).status == "active"
