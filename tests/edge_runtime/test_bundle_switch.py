"""The device's bundle store and its atomic switch, rolled back on failed health (bundle_switch)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fleet_helpers import bundle_id, bundle_variant, pack

from edge_runtime.bundle import MANIFEST_NAME
from edge_runtime.bundle_switch import BundleStore, BundleSwitch, Health
from edge_runtime.errors import BundleError
from edge_runtime.fleet.config import TrustConfig, TrustedKey
from edge_runtime.signing import generate_key


@pytest.fixture
def key(tmp_path: Path) -> tuple[Path, Path]:
    return generate_key(tmp_path / "keys" / "release")


@pytest.fixture
def trust(key) -> TrustConfig:
    return TrustConfig(keys=[TrustedKey(name="release", public_key=key[1])])


@pytest.fixture
def bundles(tiny_bundle, tmp_path, key) -> dict[str, Path]:
    return {
        v: bundle_variant(tiny_bundle, tmp_path / f"v{v}", f"{v}.0.0", key=key[0]) for v in ("1", "2", "3")
    }


def test_add_verifies_and_keeps_a_copy_named_by_the_manifest_digest(bundles, trust, tmp_path):
    store = BundleStore(tmp_path / "store")
    stored = store.add(bundles["1"], trust)
    assert stored.id == bundle_id(bundles["1"]) and stored.signer.name == "release"
    assert stored.path == store.get(stored.id) and stored.path.parent == tmp_path / "store" / "bundles"
    archived = store.add(pack(bundles["2"]), trust, expect=bundle_id(bundles["2"]))
    assert (archived.path / MANIFEST_NAME).is_file() and archived.manifest.version == "2.0.0"
    assert not any((tmp_path / "store" / "incoming").iterdir())  # no staging left behind


def test_add_refuses_unsigned_tampered_and_unexpected_bundles(tiny_bundle, bundles, trust, tmp_path):
    store = BundleStore(tmp_path / "store")
    with pytest.raises(BundleError, match="unsigned"):
        store.add(tiny_bundle, trust)
    with pytest.raises(BundleError, match="is not the"):
        store.add(bundles["1"], trust, expect=bundle_id(bundles["2"]))
    manifest = json.loads((bundles["3"] / MANIFEST_NAME).read_text())
    (bundles["3"] / MANIFEST_NAME).write_text(json.dumps(manifest | {"classes": ["a", "b", "c"]}, indent=2))
    with pytest.raises(BundleError, match="does not match manifest.json"):
        store.add(bundles["3"], trust)
    assert not (tmp_path / "store" / "bundles").exists() or not any(
        (tmp_path / "store" / "bundles").iterdir()
    )


def test_activate_keeps_the_previous_bundle_and_rollback_restores_it(bundles, trust, tmp_path):
    store = BundleStore(tmp_path / "store")
    ids = {v: store.add(path, trust).id for v, path in bundles.items()}
    store.activate(ids["1"])
    assert store.current_id() == ids["1"] and store.previous() is None
    store.activate(ids["2"])
    assert store.current_id() == ids["2"] and store.previous() == store.get(ids["1"])
    assert store.rollback() == store.get(ids["1"]) and store.current_id() == ids["1"]
    store.prune()
    assert store.get(ids["3"]) is None and store.get(ids["2"]) is None and store.get(ids["1"]) is not None


class FakeRunner:
    """A pipeline stand-in whose health each bundle decides (by its version)."""

    def __init__(self, verdicts: dict[str, Health]) -> None:
        self.verdicts, self.runs, self.stops, self.bundle = verdicts, [], 0, None

    def start(self, bundle: Path) -> None:
        self.bundle = bundle
        self.runs.append(json.loads((bundle / MANIFEST_NAME).read_text())["version"])

    def stop(self) -> None:
        self.stops += 1

    def health(self) -> Health:
        return self.verdicts[self.runs[-1]]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _switch(store, runner, clock=None):
    clock = clock or FakeClock()
    return BundleSwitch(store, runner, window_s=10.0, clock=clock, wait=clock.sleep)


def test_a_healthy_bundle_stays_and_an_unhealthy_one_is_rolled_back_and_remembered(bundles, trust, tmp_path):
    store = BundleStore(tmp_path / "store")
    ids = {v: store.add(path, trust).id for v, path in bundles.items()}
    store.activate(ids["1"])
    runner = FakeRunner(
        {
            "1.0.0": Health("healthy"),
            "2.0.0": Health("healthy"),
            "3.0.0": Health("unhealthy", "rules[0]: 'x'"),
        }
    )
    switch = _switch(store, runner)
    assert switch.switch(ids["1"]).status == "unchanged" and runner.runs == []
    assert switch.switch(ids["2"], attempt="r1").status == "active"
    assert store.current_id() == ids["2"] and runner.runs == ["2.0.0"]
    outcome = switch.switch(ids["3"], attempt="r2")
    assert outcome.status == "rolled_back" and "rules[0]" in outcome.reason
    assert store.current_id() == ids["2"] and runner.runs == ["2.0.0", "3.0.0", "2.0.0"]
    assert store.failed()[ids["3"]].attempt == "r2"


def test_a_bundle_that_never_becomes_healthy_is_rolled_back_when_the_window_ends(bundles, trust, tmp_path):
    store = BundleStore(tmp_path / "store")
    ids = {v: store.add(path, trust).id for v, path in bundles.items()}
    store.activate(ids["1"])
    clock = FakeClock()
    runner = FakeRunner({"1.0.0": Health("healthy"), "2.0.0": Health("starting", "0 of 3 frames run")})
    outcome = _switch(store, runner, clock).switch(ids["2"])
    assert outcome.status == "rolled_back" and "not healthy within 10 s (0 of 3 frames run)" == outcome.reason
    assert 10.0 <= clock.now < 11.0 and store.current_id() == ids["1"]
