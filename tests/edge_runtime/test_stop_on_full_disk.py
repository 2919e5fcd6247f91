"""A stop on a full outbox disk: each waiting event is sent once, and at most once more after a restart.

Before (issue 15): when the cursor update failed during the drain, the loop read the same row
again and sent it again, as fast as the receiver answered: one event 8,824 times in 10 s. The
disk here is a real 512 KiB tmpfs filled to ENOSPC; the receiver a real HTTP server counting POSTs.
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from daemon_helpers import LogReader, edit_site, spawn_daemon, wait_until
from misbehaving_http import RawHttpServer, status

from edge_runtime.config.sinks import OutboxConfig, WebhookSinkConfig
from edge_runtime.events import Event
from edge_runtime.outbox import Outbox
from edge_runtime.sinks import WebhookSink

REPO = Path(__file__).parents[2]


def _event(frame: int) -> Event:
    return Event(
        camera="belt", type="t", label="red", score=0.9, frame=frame, phase="start", rule="r", pts_s=0.0
    )


def _counts(server: RawHttpServer) -> Counter[str]:
    return Counter(request.event["id"] for request in server.requests if request.method == "POST")


def test_a_drain_on_a_full_disk_sends_each_event_once_and_a_restart_once_more(small_volume):
    receiver = RawHttpServer(lambda request: status(503, "Down"))
    config = OutboxConfig(
        path=small_volume.path / "outbox.sqlite", retry_min_s=0.05, retry_max_s=0.2, drain_timeout_s=3.0
    )
    sink = WebhookSink(WebhookSinkConfig(url=f"{receiver.url}/events"))
    try:
        outbox = Outbox(config, [sink])
        events = [_event(i) for i in range(10)]
        for event in events:
            outbox.deliver(event)  # committed: the disk still has room
        assert wait_until(lambda: outbox.states["webhook"].failures >= 2, 20, 0.05)
        small_volume.fill()
        accepted: list[str] = []
        receiver.answer = lambda request: accepted.append(request.event["id"]) or status(204, "No Content")
        started = time.monotonic()
        outbox.close()  # what SIGTERM does: drain for drain_timeout_s
        assert time.monotonic() - started < 3.0 + 5.0
        assert (
            outbox.storage_error is not None and "full" in outbox.storage_error
        )  # the cursor was not recorded
        assert accepted == [e.id for e in events]  # each sent once during the drain, in order, not in a loop
        small_volume.free()
        again = Outbox(config, [sink])  # the restart re-sends what it could not record, once
        assert wait_until(lambda: again.depth("webhook") == 0, 20, 0.05)
        again.close()
        assert Counter(accepted) == Counter({e.id: 2 for e in events})
        third = Outbox(config, [sink])  # and then never again
        third.close()
        assert Counter(accepted) == Counter({e.id: 2 for e in events})
    finally:
        receiver.close()


@pytest.fixture
def refusing_receiver():
    """A real HTTP receiver that answers 503 until a test changes its answer; closed after the test."""
    receiver = RawHttpServer(lambda request: status(503, "Down"))
    yield receiver
    receiver.close()


def test_sigterm_on_a_full_disk_is_no_retry_storm(colour_site, small_volume, refusing_receiver):
    receiver = refusing_receiver

    def on_small_volume(site):
        site["cameras"][0].update(loop=True, realtime=True)
        site["outbox"].update(
            path=str(small_volume.path / "outbox.sqlite"),
            retry_min_s=0.1,
            retry_max_s=0.3,
            drain_timeout_s=5.0,
        )
        site["sinks"] = {"webhook": {"url": f"{receiver.url}/events"}}
        site["http"] = {"enabled": False}

    edit_site(colour_site, on_small_volume)
    process = spawn_daemon(colour_site, REPO)
    try:
        log = LogReader(process)
        log.wait_for("running 1 camera")
        assert wait_until(lambda: len(receiver.requests) >= 1, 60)  # refused: events wait in the outbox
        time.sleep(8)  # a loop of the colour video: a few more events wait
        small_volume.fill()
        accepted: list[str] = []
        receiver.answer = lambda request: accepted.append(request.event["id"]) or status(204, "No Content")
        process.send_signal(signal.SIGTERM)
        out = log.stdout_at_exit(process, 90)
    finally:
        process.kill()
    assert process.returncode == 0, log.rest()
    summary = json.loads(out[out.index("{") :])
    assert accepted and summary["events"] >= len(set(accepted))
    assert max(Counter(accepted).values()) == 1  # the drain delivered each waiting event once
    assert "Traceback" not in log.rest()
    # Whether the last cursor write found room on the full disk depends on SQLite's page layout; when
    # it did not, the daemon says so and the next start re-sends: at most once more, never a storm.
    small_volume.free()
    restart = Outbox(
        OutboxConfig(path=small_volume.path / "outbox.sqlite"),
        [WebhookSink(WebhookSinkConfig(url=f"{receiver.url}/events"))],
    )
    try:
        assert wait_until(lambda: restart.depth("webhook") == 0, 20, 0.05)
    finally:
        restart.close()
    resent = Counter(accepted) - Counter(set(accepted))
    assert max(Counter(accepted).values()) <= 2
    assert not resent or "sent again at the next start" in log.rest()
