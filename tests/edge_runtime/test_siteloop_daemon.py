"""The site loop in the running daemon: hard examples kept, feedback from the dashboard kept with its
frame, a candidate in shadow with its agreement and would-be events on /status and the model page."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

from daemon_helpers import post_json as _post
from daemon_helpers import swapped_bundle, wait_for_value

from edge_runtime.bundle import load_bundle, write_manifest
from edge_runtime.siteloop.captures import read_captures
from edge_runtime.web.acks import AckStore

REPO = Path(__file__).parents[2]


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


def test_captures_feedback_and_shadow_in_the_running_daemon(start_daemon, tiny_bundle, tmp_path):
    candidate = swapped_bundle(tiny_bundle, tmp_path / "candidate")
    captures = tmp_path / "captures"
    daemon = start_daemon(
        site_loop={
            "capture": {"enabled": True, "folder": str(captures), "per_minute": 600, "burst": 50},
            "shadow": {"bundle": str(candidate), "cpu_budget": 1.0},
        }
    )

    def status() -> dict:
        return json.loads(_get(f"{daemon.url}/status"))["site_loop"]

    shadow = wait_for_value(lambda: (s := status()["shadow"])["events"]["candidate"].get("blue_seen") and s)
    assert shadow["name"] == "tiny-swapped" and shadow["compared"] > 0
    assert 0.0 <= shadow["agreement"] < 1.0  # it swaps red and blue: they disagree on those frames
    assert shadow["events"]["live"].get("red_seen") and shadow["events"]["candidate"].get("blue_seen")
    page = _get(f"{daemon.url}/model").decode()
    assert 'id="shadow"' in page and "tiny-swapped" in page and 'id="shadow-events"' in page

    def red() -> list[dict]:
        rows = json.loads(_get(f"{daemon.url}/api/incidents?type=red_seen"))["incidents"]
        return [row for row in rows if row["status"] == "ended"]

    incident = wait_for_value(red)[0]
    assert incident["feedback"] is None
    code, given = _post(
        f"{daemon.url}/api/events/{incident['id']}/feedback",
        {"by": "Li", "verdict": "relabel", "label": "green"},
    )
    assert code == 200 and given["label"] == "green" and given["event_label"] == "red"
    assert given["frame"] and Path(given["frame"]).is_file()  # the raw frame of the event's start, kept
    code, given = _post(
        f"{daemon.url}/api/events/{incident['id']}/feedback", {"by": "Li", "verdict": "false_alarm"}
    )
    assert code == 200 and given["verdict"] == "false_alarm"  # the newest feedback stands
    assert (
        _post(f"{daemon.url}/api/events/{incident['id']}/feedback", {"by": "Li", "verdict": "maybe"})[0]
        == 422
    )
    assert (
        _post(
            f"{daemon.url}/api/events/{incident['id']}/feedback",
            {"by": "Li", "verdict": "relabel", "label": "purple"},
        )[0]
        == 422
    )
    assert (
        _post(f"{daemon.url}/api/events/{'f' * 32}/feedback", {"by": "Li", "verdict": "confirmed"})[0] == 404
    )
    shown = next(row for row in red() if row["id"] == incident["id"])
    assert shown["feedback"]["verdict"] == "false_alarm"
    assert json.loads(_get(f"{daemon.url}/api/feedback"))["feedback"][0]["event_id"] == incident["id"]
    captured = wait_for_value(
        lambda: (c := status()["captures"])["captured"].get("shadow_disagreement") and c
    )
    assert captured["captured"].get("margin") and captured["captured"].get("event")
    daemon.close()

    kept = list(read_captures(captures))
    (mine,) = [c for c in kept if incident["id"] in c.event_ids]
    assert "feedback" in mine.reasons and mine.prediction["label"] == "red"
    disagreed = [c for c in kept if "shadow_disagreement" in c.reasons]
    assert disagreed and all(c.shadow and c.shadow["label"] != c.prediction["label"] for c in disagreed)
    store = AckStore(tmp_path / "events" / "acks.sqlite")
    try:
        assert store.feedback([incident["id"]])[incident["id"]].verdict == "false_alarm"
    finally:
        store.close()
    out = tmp_path / "task"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge_runtime.siteloop",
            "export",
            "--captures",
            str(captures),
            "--bundle",
            str(tiny_bundle),
            "--format",
            "label-studio",
            "--out",
            str(out),
            "--acks",
            str(tmp_path / "events" / "acks.sqlite"),
            "--reasons",
            "event",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    tasks = json.loads((out / "tasks.json").read_text())
    corrected = [t for t in tasks if t["data"]["adit"].get("feedback")]
    assert corrected and corrected[0]["predictions"][0]["result"] == []  # a false alarm: no pre-annotation
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge_runtime.siteloop",
            "export",
            "--captures",
            str(tmp_path / "nothing"),
            "--bundle",
            str(tiny_bundle),
            "--format",
            "coco",
            "--out",
            str(tmp_path / "x"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "not a capture folder" in bad.stderr


def test_a_candidate_that_cannot_serve_the_rules_is_refused_at_start(tiny_bundle, colour_site, tmp_path):
    candidate = swapped_bundle(tiny_bundle, tmp_path / "candidate")
    manifest = load_bundle(candidate).manifest
    write_manifest(candidate, manifest.model_copy(update={"classes": ["cyan", "magenta", "yellow"]}))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge_runtime",
            "run",
            "--config",
            str(colour_site),
            "--validate",
            f"site_loop.shadow.bundle={candidate}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "site_loop.shadow.bundle" in result.stderr and "'red'" in result.stderr
