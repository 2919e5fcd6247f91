"""Promotion in a real daemon process on a looping video: ``python -m edge_runtime promote`` switches it
to the shadow candidate through the bundle store (keeping the previous bundle), refuses without the
shadow run's evidence, and a candidate that fails its health window is rolled back by the daemon."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from daemon_helpers import LogReader, free_port, spawn_daemon, swapped_bundle, wait_for_value

from edge_runtime.bundle_switch import BundleStore
from edge_runtime.signing import manifest_digest

REPO = Path(__file__).parents[2]
TOKEN = "promote-test-token"


def _status(url: str) -> dict:
    request = urllib.request.Request(f"{url}/status", headers={"Authorization": f"Bearer {TOKEN}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())
    except OSError:
        return {}  # restarting between two bundles


def _compared(url: str) -> int:
    shadow = (_status(url).get("site_loop") or {}).get("shadow") or {}
    return shadow.get("compared", 0)


def _promote(site: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edge_runtime", "promote", "--config", str(site), "--by", "Li", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_promote_switches_to_the_candidate_and_rolls_back_a_failing_one(colour_site, tiny_bundle, tmp_path):
    candidate = swapped_bundle(tiny_bundle, tmp_path / "candidate")
    broken = swapped_bundle(tiny_bundle, tmp_path / "broken", classes=["cyan", "magenta", "yellow"])
    store_root = tmp_path / "store"
    port = free_port()
    site = yaml.safe_load(colour_site.read_text())
    site["cameras"][0].update(loop=True, realtime=True)
    site["http"] = {"port": port, "token": TOKEN, "benchmark": str(tmp_path / "none.json")}
    site["site_loop"] = {
        "shadow": {"bundle": str(candidate), "cpu_budget": 1.0},
        "promote": {"store": str(store_root), "window_s": 30, "min_frames": 5, "min_compared": 20},
    }
    colour_site.write_text(yaml.safe_dump(site, sort_keys=False))
    url = f"http://127.0.0.1:{port}"
    daemon = spawn_daemon(colour_site, REPO)
    log = LogReader(daemon)
    try:
        log.wait_for("dashboard on http://", timeout_s=90)
        # the API is behind the token like every other mutating endpoint
        anonymous = urllib.request.Request(f"{url}/api/promote", data=b"{}", method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused_401:
            urllib.request.urlopen(anonymous, timeout=10)
        assert refused_401.value.code == 401
        refused = _promote(colour_site, "--bundle", str(broken))  # no shadow evidence for this one
        assert refused.returncode == 1 and "the candidate in shadow is" in refused.stderr, refused.stderr
        wait_for_value(lambda: _compared(url) >= 20, 90)

        promoted = _promote(colour_site)
        assert promoted.returncode == 0, promoted.stdout + promoted.stderr
        outcome = json.loads(promoted.stdout.splitlines()[-2])
        assert outcome["status"] == "active" and outcome["by"] == "Li"
        status = _status(url)
        assert status["promotion"]["latest"]["id"] == outcome["id"]
        assert (status["site_loop"] or {}).get("shadow") is None  # the candidate is the live model now
        store = BundleStore(store_root)
        assert store.current_id() == manifest_digest(candidate)
        previous = store.previous()
        assert previous is not None and manifest_digest(previous) == manifest_digest(tiny_bundle)

        failed = _promote(colour_site, "--bundle", str(broken), "--force")
        assert failed.returncode == 1, failed.stdout + failed.stderr
        assert "rolled back" in failed.stderr and "cyan" in failed.stderr  # cannot serve the site's rules
        assert store.current_id() == manifest_digest(candidate)  # the bundle that ran before it runs again
        assert manifest_digest(broken) in store.failed()
        again = wait_for_value(lambda: (s := _status(url)) and s["promotion"]["latest"]["status"] and s, 60)
        assert again["promotion"]["latest"]["status"] == "rolled_back"
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
    assert daemon.returncode == 0, log.rest()


def test_adit_promote_needs_promotion_on_and_a_daemon(colour_site, capsys):
    from adit.cli import main

    assert main(["promote", f"site={colour_site}"]) == 2  # the site has no site_loop.promote
    assert "site_loop.promote is not set" in capsys.readouterr().err
    site = yaml.safe_load(colour_site.read_text())
    site["site_loop"] = {"promote": {"store": str(colour_site.parent / "store")}}
    site["http"] = {"port": free_port()}
    colour_site.write_text(yaml.safe_dump(site, sort_keys=False))
    assert main(["promote", f"site={colour_site}", "force=true"]) == 2  # nothing listens there
    assert "no daemon answers" in capsys.readouterr().err
