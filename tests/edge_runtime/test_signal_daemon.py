"""The daemon runs monitored machines beside (or instead of) cameras, through the same outbox and sinks."""

from __future__ import annotations

import json
import signal
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import yaml
from daemon_helpers import LogReader, free_port, spawn_daemon

from edge_runtime.config import load_site_config
from edge_runtime.events import read_events
from edge_runtime.pipeline import run
from train.signal.synth import SynthSettings, bearing_signal

REPO = Path(__file__).parents[2]
FAULT_AT_S = 2.0
FAULTS = ["ball", "inner_race", "outer_race"]


def _fault_file(path: Path) -> Path:
    """2 s of healthy running, then 6 s of an inner-race fault (1 HP, unseen seeds)."""
    healthy = bearing_signal("normal", 1, 21, SynthSettings(seconds=FAULT_AT_S))
    faulty = bearing_signal("inner_race", 1, 22, SynthSettings(seconds=6.0))
    np.save(path, np.concatenate([healthy, faulty]))
    return path


def _machine_site(tmp_path: Path, bundle: Path, source: Path, **site: object) -> dict:
    return {
        "machines": [{"name": "drive-1", "source": str(source), "bundle": str(bundle), "realtime": True}],
        "rules": [
            {
                "name": "bearing-fault",
                "camera": "drive-1",
                "labels": FAULTS,
                "min_score": 0.0,
                "debounce": {"hits": 4, "window": 6},
                "cooldown_s": 60.0,
            }
        ],
        "sinks": {"jsonl": {"path": str(tmp_path / "events.jsonl")}},
        "outbox": {"path": str(tmp_path / "outbox.sqlite")},
        **site,
    }


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


def _metric(text: str, name: str) -> float | None:
    line = next((line for line in text.splitlines() if line.startswith(name + "{")), None)
    return None if line is None else float(line.rsplit(" ", 1)[1])


def test_a_machines_only_daemon_delivers_the_fault_once_and_exports_its_health(signal_bundle, tmp_path):
    port = free_port()
    site_path = tmp_path / "site.yaml"
    site = _machine_site(tmp_path, signal_bundle, _fault_file(tmp_path / "drive.npy"), http={"port": port})
    site_path.write_text(yaml.safe_dump(site))
    process = spawn_daemon(site_path, REPO)
    events_path = tmp_path / "events.jsonl"
    try:
        log = LogReader(process)
        log.wait_for("running 0 camera(s) on - and 1 machine(s)")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (events_path.exists() and read_events(events_path)):
            time.sleep(0.1)
        metrics = _get(f"http://127.0.0.1:{port}/metrics")  # realtime: the fault stretch runs for 6 s more
        status = json.loads(_get(f"http://127.0.0.1:{port}/status"))
        process.send_signal(signal.SIGTERM)
        out = process.stdout.read()
        process.wait(30)
    finally:
        process.kill()
    assert process.returncode == 0, log.rest()
    index = _metric(metrics, "adit_machine_health_index")
    assert index is not None and 0.0 < index <= 1.0, metrics
    assert _metric(metrics, "adit_machine_windows_total") > 0
    assert status["machines"]["drive-1"]["label"] in FAULTS and status["cameras"] == {}
    events = read_events(events_path)
    starts = [e for e in events if e.phase == "start"]
    assert len(starts) == 1 and starts[0].label in FAULTS and starts[0].pts_s >= FAULT_AT_S
    assert starts[0].extra["health_index"] > 0.0 and starts[0].camera == "drive-1"
    assert [e.phase for e in events] == ["start", "end"] and events[1].extra["reason"] == "stopped"
    summary = json.loads(out)
    assert summary["events"] == 2 and summary["machines"]["drive-1"]["windows"] > 0


def test_cameras_and_machines_share_one_outbox(colour_site, signal_bundle, tmp_path):
    site = yaml.safe_load(colour_site.read_text())
    machine = _machine_site(tmp_path, signal_bundle, _fault_file(tmp_path / "drive.npy"))
    site["machines"] = [{**machine["machines"][0], "realtime": False}]
    site["cameras"][0]["realtime"] = True  # paced: unpaced, a busy box drops the few frames of a colour run
    site["rules"] += machine["rules"]
    site["http"] = {"enabled": False}
    colour_site.write_text(yaml.safe_dump(site))
    config = load_site_config(colour_site)
    summary = run(config, threading.Event())
    every_event = read_events(config.sinks.jsonl.path)
    assert len(every_event) == summary.events and summary.machines["drive-1"]["ended"]
    events = [e for e in every_event if e.kind != "capacity"]  # a loaded box may also say it is over capacity
    assert {e.camera for e in events} == {"cam1", "drive-1"}
    assert [e.label in FAULTS for e in events if e.camera == "drive-1"] == [True, True]


def test_a_machine_model_is_compiled_once_the_check_and_the_monitor_share_it(
    signal_bundle, tmp_path, model_loads
):
    site = _machine_site(
        tmp_path, signal_bundle, _fault_file(tmp_path / "drive.npy"), http={"enabled": False}
    )
    site["machines"][0]["realtime"] = False
    site_path = tmp_path / "site.yaml"
    site_path.write_text(yaml.safe_dump(site))
    summary = run(load_site_config(site_path), threading.Event())
    assert summary.machines["drive-1"]["windows"] > 0
    assert len(model_loads) == 1, model_loads  # verify_machine compiled it; the monitor ran that one


def test_rules_watching_a_machine_are_checked_against_its_bundle(signal_bundle, tmp_path):
    from edge_runtime.config import SiteConfig
    from edge_runtime.errors import ConfigError
    from edge_runtime.startup import verify_site

    site = _machine_site(tmp_path, signal_bundle, _fault_file(tmp_path / "drive.npy"))
    site["rules"][0]["labels"] = ["inner_race", "smoke"]
    with pytest.raises(
        ConfigError,
        match="rules\\[0\\].labels: 'smoke' not among the bundle's classes; valid: ball, inner_race",
    ):
        verify_site(SiteConfig.model_validate(site))
    site["rules"][0].update(labels=FAULTS, zone=[[0, 0], [1, 0], [1, 1]])
    with pytest.raises(
        ConfigError, match="rules\\[0\\]: zone and tripwire need a detect bundle; 'drive-1' runs 'signal'"
    ):
        verify_site(SiteConfig.model_validate(site))
