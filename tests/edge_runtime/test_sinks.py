"""Sinks against the real things: a Mosquitto broker (stopped mid-run) and a local HTTP server."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from edge_runtime.config.sinks import MqttSinkConfig, OutboxConfig, SinksConfig, WebhookSinkConfig
from edge_runtime.errors import ConfigError
from edge_runtime.events import Event
from edge_runtime.outbox import Outbox
from edge_runtime.sinks import MqttSink, WebhookSink, build_sinks, list_sinks


def _event(frame: int) -> Event:
    return Event(
        camera="belt", type="person", label="p", score=0.9, frame=frame, phase="start", rule="r", pts_s=0.0
    )


def _wait(condition, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


def _event_ids(subscriber) -> list[str]:
    return [json.loads(payload)["id"] for topic, payload, _ in subscriber.messages if "/events/" in topic]


def test_every_config_section_has_a_registered_sink():
    assert list_sinks() == sorted(SinksConfig.model_fields)
    with pytest.raises(ConfigError, match="sinks.mqtt.tls"):
        MqttSink(MqttSinkConfig(tls={"ca_file": "/nonexistent/ca.pem"}))


def test_mqtt_events_arrive_with_qos1_and_a_retained_availability_topic(mosquitto, subscriber):
    sink = MqttSink(MqttSinkConfig(port=mosquitto.port, client_id="edge-a"))
    assert _wait(lambda: sink.connected)
    events = [_event(i) for i in range(3)]
    for event in events:
        sink.deliver(event)
    assert _wait(lambda: len(_event_ids(subscriber)) == 3)
    assert _event_ids(subscriber) == [e.id for e in events]
    topics = {topic for topic, _, _ in subscriber.messages}
    status = "adit/status/edge-a"  # per device: one box's will never hides another's "online"
    assert "adit/events/belt/person" in topics and status in topics
    sink.close()
    assert _wait(lambda: b"offline" in [p for t, p, _ in subscriber.messages if t == status])
    late = type(subscriber)(mosquitto.port, status, "test-late")  # a new subscriber gets the retained state
    try:
        assert _wait(lambda: late.messages == [(status, b"offline", True)])
    finally:
        late.close()


def test_each_device_has_its_own_availability_and_the_shared_topic_still_works(mosquitto, subscriber):
    down = MqttSink(MqttSinkConfig(port=mosquitto.port, client_id="edge-down"))
    up = MqttSink(MqttSinkConfig(port=mosquitto.port, client_id="edge-up"))
    legacy = MqttSink(
        MqttSinkConfig(port=mosquitto.port, client_id="edge-old", availability_topic="adit/status")
    )
    try:
        assert _wait(lambda: down.connected and up.connected and legacy.connected)
        down.close()

        def retained(topic: str) -> bytes | None:
            payloads = [p for t, p, _ in subscriber.messages if t == topic]
            return payloads[-1] if payloads else None

        assert _wait(lambda: retained("adit/status/edge-down") == b"offline")
        assert retained("adit/status/edge-up") == b"online"
        assert _wait(lambda: retained("adit/status") == b"online")  # set explicitly: the old shared topic
    finally:
        up.close()
        legacy.close()


def test_broker_down_mid_run_every_event_still_arrives_once_per_id(mosquitto, subscriber, tmp_path):
    sink = MqttSink(MqttSinkConfig(port=mosquitto.port, client_id="edge-b", publish_timeout_s=1.0))
    outbox = Outbox(
        OutboxConfig(path=tmp_path / "outbox.sqlite", retry_min_s=0.2, retry_max_s=1.0, drain_timeout_s=20),
        [sink],
    )
    events = [_event(i) for i in range(30)]
    for event in events[:10]:
        outbox.deliver(event)
    assert _wait(lambda: len(set(_event_ids(subscriber))) == 10)
    mosquitto.stop()
    for event in events[10:20]:
        outbox.deliver(event)  # the pipeline never waits for the broker
    assert outbox.depth() >= 10 - 1  # at most one in flight when the broker went
    time.sleep(1.0)
    mosquitto.start()
    for event in events[20:]:
        outbox.deliver(event)
    assert _wait(lambda: len(set(_event_ids(subscriber))) == 30, timeout_s=60), outbox.states
    assert outbox.depth() == 0
    outbox.close()
    sink.close()
    received = _event_ids(subscriber)
    assert set(received) == {e.id for e in events}  # duplicates allowed (QoS 1); consumers dedupe by id
    first_seen = list(dict.fromkeys(received))
    assert first_seen == [e.id for e in events]  # and the outbox resumed in order


class _Collector(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((json.loads(body)["id"], self.headers.get("Authorization")))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_args) -> None:
        pass


@pytest.fixture
def http_collector():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    server.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_webhook_posts_json_with_secret_headers_and_refusal_is_an_oserror(http_collector):
    port = http_collector.server_address[1]
    sink = WebhookSink(
        WebhookSinkConfig(url=f"http://127.0.0.1:{port}/events", headers={"Authorization": "Bearer s3cret"})
    )
    event = _event(1)
    sink.deliver(event)
    assert http_collector.received == [(event.id, "Bearer s3cret")]
    assert "s3cret" not in repr(sink.config)  # secrets never reach logs or /status
    dead = WebhookSink(WebhookSinkConfig(url=f"http://127.0.0.1:{port + 1 if port < 65535 else 1}/x"))
    with pytest.raises(OSError):
        dead.deliver(event)
    assert [type(s).__name__ for s in build_sinks(SinksConfig(jsonl=None, webhook={"url": "http://x/"}))] == [
        "WebhookSink"
    ]
