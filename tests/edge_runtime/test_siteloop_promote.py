"""Promotion waits for the shadow run's evidence, verifies the candidate into the real bundle store, and
queues the switch for the supervisor, whose outcome it keeps for /status."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edge_runtime.bundle_switch import BundleStore, SwitchOutcome
from edge_runtime.errors import BundleError
from edge_runtime.fleet.config import TrustConfig
from edge_runtime.siteloop.promote import Evidence, NotPromoted, Promotions, not_ready


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


def test_a_request_is_verified_into_the_store_queued_and_finished(tmp_path, tiny_bundle):
    candidate = tmp_path / "candidate"
    shutil.copytree(tiny_bundle, candidate)
    store = BundleStore(tmp_path / "store")
    desk = Promotions(store, TrustConfig(), Evidence(min_compared=200), clock=lambda: 1_700_000_000.0)
    assert desk.state()["latest"] is None and desk.next(0.0) is None

    with pytest.raises(NotPromoted, match="fewer than 200.*force"):
        desk.request(candidate, _shadow(candidate, compared=3))
    assert desk.state()["latest"] is None  # nothing queued, nothing added
    promotion = desk.request(candidate, _shadow(candidate), by="Li")
    assert store.get(promotion.bundle_id) is not None  # verified and kept before any switch
    with pytest.raises(NotPromoted, match="still running"):
        desk.request(candidate, _shadow(candidate))

    queued = desk.next(0.0)
    assert queued is promotion and desk.state()["latest"]["status"] == "switching"
    desk.finish(queued, SwitchOutcome(promotion.bundle_id, "rolled_back", "not healthy within 60 s"))
    latest = desk.state()["latest"]
    assert latest["status"] == "rolled_back" and latest["by"] == "Li"
    assert latest["finished"].startswith("2023-11-14T22:13:20")

    # the store remembers the failure: the same bundle is refused unless forced
    store.mark_failed(promotion.bundle_id, "not healthy within 60 s", f"promote {promotion.id}")
    with pytest.raises(NotPromoted, match="failed its health check on this device before"):
        desk.request(candidate, _shadow(candidate))
    forced = desk.request(candidate, None, force=True)
    assert forced.forced and desk.next(0.0) is forced


def test_a_damaged_candidate_is_refused_by_the_store(tmp_path, tiny_bundle):
    candidate = tmp_path / "candidate"
    shutil.copytree(tiny_bundle, candidate)
    (candidate / "model.onnx").write_bytes(b"not the model the manifest lists")
    desk = Promotions(BundleStore(tmp_path / "store"), TrustConfig(), Evidence(min_compared=0))
    with pytest.raises(BundleError, match="model.onnx"):
        desk.request(candidate, _shadow(candidate))
    assert desk.next(0.0) is None
