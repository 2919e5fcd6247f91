"""The daemon against a real broker that is refused, then appears, then dies and comes back without
its sessions (no persistence): every event still reaches the subscriber, once per id after dedupe,
in the order each camera produced it."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import yaml
from conftest import MOSQUITTO, Mosquitto, Subscriber
from daemon_helpers import LogReader, edit_site, free_port, spawn_daemon, wait_until

from edge_runtime.events import read_events

REPO = Path(__file__).parents[2]


def _by_camera(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    cameras: dict[str, list[str]] = {}
    for camera, event_id in pairs:
        cameras.setdefault(camera, []).append(event_id)
    return cameras


@pytest.mark.parametrize("outage_s", [3.0, pytest.param(60.0, marks=pytest.mark.slow)])
def test_refused_port_then_a_broker_restart_that_lost_its_sessions_loses_no_event(
    colour_site, tmp_path, outage_s
):
    if MOSQUITTO is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    port = free_port()  # nothing listens yet: the connection is refused

    def two_cameras_one_absent_broker(site):
        site["cameras"][0].update(loop=True, realtime=True)
        site["cameras"].append({**site["cameras"][0], "name": "cam2"})
        site["sinks"]["mqtt"] = {"port": port, "client_id": "edge-faults", "publish_timeout_s": 1}
        site["outbox"].update(retry_min_s=0.2, retry_max_s=1, drain_timeout_s=60)

    edit_site(colour_site, two_cameras_one_absent_broker)
    broker = Mosquitto(tmp_path / "broker", persistence=False, port=port)
    process = spawn_daemon(colour_site, REPO)
    subscriber = None
    try:
        log = LogReader(process)
        log.wait_for("running 2 camera")
        events = Path(yaml.safe_load(colour_site.read_text())["sinks"]["jsonl"]["path"])
        assert wait_until(lambda: events.exists() and len(read_events(events)) >= 2, timeout_s=60)
        wait_until(lambda: False, timeout_s=outage_s)  # events pile up in the outbox
        broker.start()
        subscriber = Subscriber(port, "adit/#", client_id="faults-sub")
        log.wait_for("MQTT connected", timeout_s=60)
        wait_until(lambda: False, timeout_s=4.0)
        broker.kill()  # SIGKILL, and no persistence: every session and subscription is gone
        wait_until(lambda: False, timeout_s=min(outage_s, 10.0))
        broker.start()
        wait_until(lambda: False, timeout_s=6.0)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        sent = [(e.camera, e.id) for e in read_events(events)]
        expected = _by_camera(sent)
        assert len(expected) == 2 and sum(map(len, expected.values())) >= 6

        def received() -> dict[str, list[str]]:
            pairs = [
                (json.loads(payload)["camera"], json.loads(payload)["id"])
                for topic, payload, _ in subscriber.messages
                if "/events/" in topic
            ]
            return {camera: list(dict.fromkeys(ids)) for camera, ids in _by_camera(pairs).items()}

        assert wait_until(lambda: received() == expected, timeout_s=30), (received(), expected)
    finally:
        process.kill()
        if subscriber is not None:
            subscriber.close()
        broker.stop()
