"""Delivery that never stops silently: a real misbehaving HTTP server, a real Mosquitto, a real SQLite file.

Before (issue 15): a 301/302/303 was followed as a body-less GET whose 200 marked the event
delivered (18 of 18 lost, the Authorization header sent to the other origin); any exception that
was not an OSError (an invalid MQTT topic, a garbled status line) ended the sink's thread for good,
the bad row stayed at the head of the queue, and /healthz stayed green.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time

import pytest
from misbehaving_http import RawHttpServer, status

from edge_runtime.config import SiteConfig
from edge_runtime.config.sinks import MqttSinkConfig, OutboxConfig, WebhookSinkConfig
from edge_runtime.events import Event
from edge_runtime.live import LatestFrames
from edge_runtime.observe import DaemonView
from edge_runtime.outbox import Outbox
from edge_runtime.serve import pet_watchdog
from edge_runtime.sinks import MqttSink, WebhookSink
from edge_runtime.systemd import SystemdNotifier
from edge_runtime.timing import StageTimers

SECRET = "Bearer s3cret-token"


def _event(frame: int, label: str = "red", type_: str = "t") -> Event:
    return Event(
        camera="belt", type=type_, label=label, score=0.9, frame=frame, phase="start", rule="r", pts_s=0.0
    )


def _outbox(tmp_path, sinks, **config) -> Outbox:
    settings = {
        "path": tmp_path / "outbox.sqlite",
        "retry_min_s": 0.05,
        "retry_max_s": 0.2,
        "drain_timeout_s": 2.0,
    }
    return Outbox(OutboxConfig(**(settings | config)), sinks)


def _wait(condition, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return bool(condition())


def _webhook(server: RawHttpServer, **settings) -> WebhookSink:
    return WebhookSink(
        WebhookSinkConfig(url=f"{server.url}/events", headers={"Authorization": SECRET}, **settings)
    )


@pytest.fixture
def servers():
    started: list[RawHttpServer] = []

    def start(answer) -> RawHttpServer:
        started.append(RawHttpServer(answer))
        return started[-1]

    yield start
    for server in started:
        server.close()


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_a_redirect_is_a_failed_attempt_and_credentials_never_leave_the_origin(
    servers, tmp_path, caplog, code
):
    elsewhere = servers(lambda request: status(200))
    hook = servers(lambda request: status(code, "Moved", {"Location": f"{elsewhere.url}/collect"}))
    outbox = _outbox(tmp_path, [_webhook(hook)])
    events = [_event(i) for i in range(3)]
    try:
        for event in events:
            outbox.deliver(event)
        assert _wait(lambda: len(hook.requests) >= 3)  # tried, and tried again
        state = outbox.states["webhook"]
        assert state.delivered == 0 and outbox.depth("webhook") == 3 and not state.healthy
        assert f"HTTP {code} redirect to {elsewhere.url}/collect not followed" in state.last_error
        assert f"redirect to {elsewhere.url}/collect" in caplog.text  # logged with its Location
        assert elsewhere.requests == []  # nothing, and no Authorization header, went to the other origin
        hook.answer = lambda request: status(200)
        assert _wait(lambda: outbox.depth("webhook") == 0)
    finally:
        outbox.close()
    assert all(r.method == "POST" and r.headers["authorization"] == SECRET for r in hook.requests)
    delivered = [r.event["id"] for r in hook.requests if r.event["id"] in {e.id for e in events}]
    assert list(dict.fromkeys(delivered)) == [e.id for e in events] and elsewhere.requests == []


@pytest.mark.parametrize(
    "broken",
    [
        b"HTTP/1.1 2OO OK\r\n\r\n",  # a garbled status line (http.client.BadStatusLine)
        b"hello, I am not HTTP\r\n\r\n",
        b"HTTP/1.1 500 Internal\r\nContent-Length: 100\r\n\r\nshort",  # an error with a body cut short
        b"",  # the connection closed without an answer
    ],
    ids=["garbled-status", "not-http", "5xx-short-body", "no-answer"],
)
def test_a_garbled_answer_is_retried_and_the_sink_thread_lives_on(servers, tmp_path, broken):
    hook = servers(lambda request: broken)
    outbox = _outbox(tmp_path, [_webhook(hook)])
    events = [_event(i) for i in range(4)]
    try:
        for event in events:
            outbox.deliver(event)
        assert _wait(lambda: outbox.states["webhook"].failures >= 3)
        assert (
            outbox.depth("webhook") == 4 and outbox.states["webhook"].dead_letters == 0
        )  # the receiver, not the events
        hook.answer = lambda request: status(200)
        assert _wait(lambda: outbox.depth("webhook") == 0)
        assert outbox.states["webhook"].healthy and outbox.states["webhook"].delivered == 4
    finally:
        outbox.close()


def test_a_2xx_with_a_short_body_is_delivered_once(servers, tmp_path):
    hook = servers(lambda request: b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
    outbox = _outbox(tmp_path, [_webhook(hook)])
    events = [_event(i) for i in range(3)]
    try:
        for event in events:
            outbox.deliver(event)
        assert _wait(lambda: outbox.depth("webhook") == 0)
    finally:
        outbox.close()
    assert [r.event["id"] for r in hook.requests] == [e.id for e in events]  # no re-sends


def test_an_event_the_receiver_refuses_goes_to_the_dead_letters_and_the_queue_moves_on(servers, tmp_path):
    def answer(request):
        if request.event["label"] == "poison":
            return status(400, "Bad Request", body=b'{"error": "label not allowed"}')
        return status(204, "No Content")

    hook = servers(answer)
    events = [_event(0), _event(1, label="poison"), _event(2), _event(3)]
    outbox = _outbox(tmp_path, [_webhook(hook)], max_attempts=3)
    try:
        for event in events:
            outbox.deliver(event)
        assert _wait(lambda: outbox.depth("webhook") == 0)
        state = outbox.states["webhook"]
        assert state.delivered == 3 and state.dead_letters == 1
        [letter] = outbox.dead_letters()
        assert letter["id"] == events[1].id and letter["sink"] == "webhook" and letter["attempts"] == 3
        assert "HTTP 400 Bad Request" in letter["error"]
    finally:
        outbox.close()
    tries = [r.event["id"] for r in hook.requests]
    assert tries.count(events[1].id) == 3
    assert [i for i in tries if i != events[1].id] == [events[0].id, events[2].id, events[3].id]
    again = _outbox(tmp_path, [_webhook(hook)])  # a restart neither dies on it nor sends it again
    try:
        assert again.depth("webhook") == 0 and again.states["webhook"].dead_letters == 1
        assert again.dead_letters()[0]["id"] == events[1].id
    finally:
        again.close()
    assert len(hook.requests) == len(tries)


class _Flaky:
    """A sink with a bug: it raises whatever it is given, then works."""

    name = "flaky"

    def __init__(self, errors: list[BaseException]) -> None:
        self.errors = errors
        self.got: list[str] = []

    def deliver(self, event: Event) -> None:
        if self.errors:
            raise self.errors.pop(0)
        self.got.append(event.id)

    def close(self) -> None:
        pass


def test_no_exception_ends_a_delivery_loop(tmp_path):
    sink = _Flaky([KeyError("x"), SystemExit(3), RuntimeError("bug")])
    outbox = _outbox(tmp_path, [sink], max_attempts=5)
    events = [_event(i) for i in range(3)]
    try:
        for event in events:
            outbox.deliver(event)
        assert _wait(lambda: len(sink.got) == 3)
        assert outbox.states["flaky"].failures == 3 and outbox.states["flaky"].dead_letters == 0
    finally:
        outbox.close()
    assert sink.got == [e.id for e in events]


def test_an_unpublishable_topic_is_dead_lettered_and_later_events_arrive(mosquitto, subscriber, tmp_path):
    """An event type with '+' (written by an older version, whose configuration allowed it)."""
    sink = MqttSink(MqttSinkConfig(port=mosquitto.port, client_id="edge-topics", publish_timeout_s=2.0))
    assert _wait(lambda: sink.connected)
    events = [_event(0), _event(1, type_="fault+ball"), _event(2)]
    outbox = _outbox(tmp_path, [sink], max_attempts=2)
    try:
        for event in events:
            outbox.deliver(event)

        def ids() -> list[str]:
            return [json.loads(p)["id"] for t, p, _ in subscriber.messages if "/events/" in t]

        assert _wait(lambda: ids() == [events[0].id, events[2].id])
        [letter] = outbox.dead_letters()
        assert letter["id"] == events[1].id and "adit/events/belt/fault+ball" in letter["error"]
    finally:
        outbox.close()
        sink.close()


def test_a_hung_receiver_turns_health_red_within_no_progress_s(tmp_path):
    """A receiver that accepts and never answers fails no attempt; health must still turn red."""
    hung = socket.create_server(("127.0.0.1", 0))
    sink = WebhookSink(WebhookSinkConfig(url=f"http://127.0.0.1:{hung.getsockname()[1]}/", timeout_s=600))
    outbox = _outbox(tmp_path, [sink])
    config = SiteConfig.model_validate({"watchdog": {"stall_s": 600, "no_progress_s": 2}})
    view = DaemonView(config, "", "", None, [], outbox, StageTimers(), LatestFrames(), time.monotonic())
    try:
        assert view.healthz()[0]
        started = time.monotonic()
        outbox.deliver(_event(0))
        assert _wait(lambda: not view.healthz()[0], 30)
        red_after = time.monotonic() - started
        sinks = view.healthz()[1]["sinks"]
        assert not sinks["webhook"]["ok"] and sinks["webhook"]["undelivered_s"] > 2 and red_after < 30
        assert outbox.states["webhook"].failures == 0  # nothing failed: only the lack of progress shows it
    finally:
        hung.close()  # the blocked POST ends with a reset; then close drains
        outbox.close()


def test_a_wedged_delivery_loop_stops_the_watchdog(tmp_path):
    """A loop stuck outside ``deliver`` (here: a lock that is never released) delivers and fails nothing."""
    now = [1000.0]
    outbox = Outbox(
        OutboxConfig(path=tmp_path / "outbox.sqlite", retry_min_s=0.05, retry_max_s=0.2),
        [_Flaky([])],
        clock=lambda: now[0],
    )
    wedge = threading.Event()
    next_row = outbox._next

    def stuck(sink: str):
        wedge.wait()
        return next_row(sink)

    outbox._next = stuck  # the loop's next look at the queue never returns
    config = SiteConfig.model_validate({"watchdog": {"no_progress_s": 20}})
    view = DaemonView(config, "", "", None, [], outbox, StageTimers(), LatestFrames(), 0.0)
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(str(tmp_path / "notify"))
    receiver.settimeout(0.5)
    notifier = SystemdNotifier(str(tmp_path / "notify"), watchdog_usec=2)
    try:
        outbox.deliver(_event(0))
        time.sleep(1.5)  # the idle loop woke and is now stuck in _next
        assert pet_watchdog(notifier, view.stalled(), {}) == {}
        assert receiver.recv(64) == b"WATCHDOG=1"  # fed while nothing is overdue
        now[0] += 25  # 25 s later, with an event waiting and no attempt
        stalled = view.stalled()
        assert stalled.keys() == {"sink:flaky"} and stalled["sink:flaky"] >= 20
        assert pet_watchdog(notifier, stalled, {}) == stalled
        with pytest.raises(TimeoutError):
            receiver.recv(64)  # not fed
        assert not view.healthz()[0] and view.healthz()[1]["stalled"] == stalled
    finally:
        wedge.set()
        outbox.close()
        receiver.close()


def test_delivery_failures_are_logged_with_the_event_left_in_place(servers, tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    hook = servers(lambda request: status(503, "Unavailable"))
    outbox = _outbox(tmp_path, [_webhook(hook)], drain_timeout_s=0.0)
    outbox.deliver(_event(0))
    assert _wait(lambda: outbox.states["webhook"].failures >= 1)
    outbox.close()
    assert "HTTP 503 Unavailable" in caplog.text and SECRET not in caplog.text
