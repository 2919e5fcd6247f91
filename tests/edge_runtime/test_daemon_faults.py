"""Long fault injection on the whole daemon (slow): the broker goes away mid-run and comes back."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
import yaml
from daemon_helpers import LogReader, spawn_daemon

from edge_runtime.events import read_events

REPO = Path(__file__).parents[2]


@pytest.mark.slow
def test_broker_restart_during_a_daemon_run_loses_no_event(colour_site, mosquitto, subscriber):
    site = yaml.safe_load(colour_site.read_text())
    site["cameras"][0].update(loop=True, realtime=True)
    site["sinks"]["mqtt"] = {"port": mosquitto.port, "client_id": "edge-faults", "publish_timeout_s": 1}
    site["outbox"].update(retry_min_s=0.2, retry_max_s=1, drain_timeout_s=30)
    colour_site.write_text(yaml.safe_dump(site))
    process = spawn_daemon(colour_site, REPO)
    try:
        log = LogReader(process)
        log.wait_for("running 1 camera")
        time.sleep(8)
        mosquitto.stop()
        time.sleep(10)  # about two red and blue intervals happen while the broker is away
        mosquitto.start()
        time.sleep(8)
        process.send_signal(signal.SIGTERM)
        process.stdout.read()
        process.wait(60)
    finally:
        process.kill()
    assert process.returncode == 0, log.rest()
    expected = {e.id for e in read_events(Path(site["sinks"]["jsonl"]["path"]))}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        received = {json.loads(p)["id"] for t, p, _ in subscriber.messages if "/events/" in t}
        if received >= expected:
            break
        time.sleep(0.2)
    assert len(expected) >= 6 and received == expected
