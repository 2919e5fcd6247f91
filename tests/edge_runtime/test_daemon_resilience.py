"""The daemon as a process under faults: a full disk, a hung sink, kill -9 at random moments, sources
that vanish, return garbage or end early. Nothing crashes, the condition is reported, nothing that
reached the outbox is lost."""

from __future__ import annotations

import json
import random
import signal
import socket
import sqlite3
import threading
import time
from functools import partial
from pathlib import Path

import pytest
import yaml
from daemon_helpers import (
    LogReader,
    edit_site,
    finish_into_webhook,
    free_port,
    http_get,
    spawn_daemon,
    wait_until,
)

from edge_runtime.events import read_events

REPO = Path(__file__).parents[2]


def _site(colour_site: Path) -> dict:
    return yaml.safe_load(colour_site.read_text())


def _events_path(colour_site: Path) -> Path:
    return Path(_site(colour_site)["sinks"]["jsonl"]["path"])


def _health(port: int) -> tuple[int, dict]:
    code, body = http_get(f"http://127.0.0.1:{port}/healthz")
    return code, json.loads(body)


def _stop(process) -> tuple[int, dict]:
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=60)
    return process.returncode, json.loads(out[out.index("{") :]) if "{" in out else {}


def test_a_full_disk_keeps_inference_going_is_reported_and_recovers(colour_site, small_volume):
    port = free_port()

    def on_small_volume(site):
        site["cameras"][0].update(loop=True, realtime=True)
        site["outbox"].update(path=str(small_volume.path / "outbox.sqlite"), retry_min_s=0.1, retry_max_s=0.5)
        site["snapshots"] = {"enabled": True, "folder": str(small_volume.path / "snapshots")}
        site["http"] = {"port": port}

    edit_site(colour_site, on_small_volume)
    process = spawn_daemon(colour_site, REPO)
    try:
        log = LogReader(process)
        log.wait_for("running 1 camera")
        events = _events_path(colour_site)
        assert wait_until(lambda: events.exists() and len(read_events(events)) >= 2)
        small_volume.fill()
        assert wait_until(
            lambda: (
                None
                not in (
                    _health(port)[1]["storage"]["outbox_error"],
                    _health(port)[1]["storage"]["snapshot_error"],
                )
            ),
            timeout_s=30,
        )
        code, health = _health(port)
        assert code == 503 and "full" in health["storage"]["outbox_error"]
        assert "No space left" in health["storage"]["snapshot_error"]
        processed = json.loads(http_get(f"http://127.0.0.1:{port}/status")[1])["cameras"]["cam1"]["processed"]
        assert wait_until(
            lambda: (
                json.loads(http_get(f"http://127.0.0.1:{port}/status")[1])["cameras"]["cam1"]["processed"]
                > processed + 20
            )
        )  # still inferring on a full disk
        metrics = http_get(f"http://127.0.0.1:{port}/metrics")[1].decode()
        assert "adit_outbox_write_failures_total" in metrics and "adit_outbox_held" in metrics
        small_volume.free()
        assert wait_until(lambda: _health(port)[1]["storage"]["ok"], timeout_s=30), _health(port)
        time.sleep(2)
        code, summary = _stop(process)
    finally:
        process.kill()
    assert code == 0, log.rest()
    ids = [event.id for event in read_events(events)]
    assert len(set(ids)) == summary["events"]  # every event reported reached the sink, ...
    assert "Traceback" not in log.rest()


class _Silent:
    """A TCP listener that accepts connections and never answers: a receiver that hangs."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]


def test_a_hung_sink_turns_health_red_and_stops_petting_the_systemd_watchdog(colour_site, tmp_path):
    port, silent = free_port(), _Silent()

    def hanging_webhook(site):
        site["cameras"][0].update(loop=True, realtime=True)
        site["sinks"]["webhook"] = {"url": f"http://127.0.0.1:{silent.port}/events", "timeout_s": 600}
        site["outbox"].update(drain_timeout_s=1, retry_max_s=1)
        site["watchdog"] = {"stall_s": 2}
        site["http"] = {"port": port}

    edit_site(colour_site, hanging_webhook)
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.settimeout(0.2)
    process = spawn_daemon(
        colour_site, REPO, NOTIFY_SOCKET=str(tmp_path / "notify.sock"), WATCHDOG_USEC="600000"
    )

    def received() -> list[str]:
        messages = []
        while True:
            try:
                messages.append(notify.recv(64).decode())
            except TimeoutError:
                return messages

    try:
        log = LogReader(process)
        log.wait_for("running 1 camera")
        assert "WATCHDOG=1" in received() + received()
        assert wait_until(lambda: "sink:webhook" in _health(port)[1]["stalled"], timeout_s=60)
        assert _health(port)[0] == 503
        log.wait_for("no longer petting the watchdog")
        received()  # what was sent before the stall was noticed
        quiet = [m for _ in range(10) for m in received()]  # 2 s: four watchdog intervals of 0.3 s
        assert "WATCHDOG=1" not in quiet
        assert _site(colour_site)["sinks"]["jsonl"] and read_events(
            _events_path(colour_site)
        )  # jsonl goes on
        metrics = http_get(f"http://127.0.0.1:{port}/metrics")[1].decode()
        assert 'adit_stage_stalled_seconds{stage="sink:webhook"}' in metrics
        code, _ = _stop(process)
    finally:
        process.kill()
        notify.close()
        silent.sock.close()
    assert code == 0, log.rest()


def _has_lines(path: Path, count: int) -> bool:
    return path.exists() and len(path.read_text().splitlines()) >= count


def _outbox_ids(path: Path) -> tuple[str, list[str]]:
    with sqlite3.connect(path) as db:
        check = db.execute("PRAGMA integrity_check").fetchone()[0]
        return check, [row[0] for row in db.execute("SELECT id FROM events ORDER BY seq")]


@pytest.mark.parametrize("rounds", [3, pytest.param(20, marks=pytest.mark.slow)])
def test_kill_9_at_random_moments_loses_and_corrupts_nothing_in_the_outbox(colour_site, rounds):
    """A webhook that is down keeps every committed event in the outbox, so each round can check that
    what was there before is still there, in order, and that SQLite's integrity check passes."""
    dead_port, rng = free_port(), random.Random(rounds)

    def keep_everything(site):
        site["cameras"][0].update(loop=True, realtime=True)
        site["sinks"]["webhook"] = {"url": f"http://127.0.0.1:{dead_port}/events", "timeout_s": 1}
        site["outbox"]["retry_max_s"] = 1

    edit_site(colour_site, keep_everything)
    outbox = Path(_site(colour_site)["outbox"]["path"])
    jsonl = _events_path(colour_site)
    kept: list[str] = []
    for number in range(rounds):
        process = spawn_daemon(colour_site, REPO)
        if number == rounds - 1:  # the last round surely has events in flight: kill mid-delivery
            wait_until(partial(_has_lines, jsonl, len(kept) + 3), 60, 0.05)
        time.sleep(rng.uniform(0.5, 7.0) if number < rounds - 1 else rng.uniform(0.0, 1.0))
        process.kill()
        process.communicate(timeout=30)
        if not outbox.exists():
            continue  # killed before the outbox was created
        check, ids = _outbox_ids(outbox)
        assert check == "ok"
        assert ids[: len(kept)] == kept  # nothing committed earlier lost or reordered
        kept = ids
        delivered = [e.id for e in read_events(jsonl)] if jsonl.exists() else []  # every line parses
        assert set(delivered) <= set(kept)  # a sink only ever got committed events
    assert len(kept) >= 3

    received = finish_into_webhook(colour_site, REPO)
    assert list(dict.fromkeys(received))[: len(kept)] == kept  # all of them, once per id, in order


class _Garbage:
    """A TCP server that answers every connection with random bytes: a camera gone mad."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        noise = random.Random(0).randbytes(64 * 1024)
        while not self._stop.is_set():
            try:
                client, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed
            self.connections += 1
            try:
                client.sendall(noise)
            except OSError:
                pass
            client.close()

    def close(self) -> None:
        self._stop.set()
        self.sock.close()


@pytest.mark.parametrize("kind", ["vanished_device", "garbage_stream"])
def test_a_camera_that_never_delivers_is_reported_and_the_daemon_stays_up(colour_site, kind):
    port, garbage = free_port(), _Garbage()
    source = (
        "/dev/v4l/by-id/usb-adit-unplugged-video-index0"
        if kind == "vanished_device"
        else f"rtsp://admin:hunter2@127.0.0.1:{garbage.port}/cam"
    )

    def broken_camera(site):
        site["cameras"][0].update(
            source=source, health={"no_frames_s": 1.0}, reconnect={"min_s": 0.2, "max_s": 1}
        )
        site["http"] = {"port": port}

    edit_site(colour_site, broken_camera)
    process = spawn_daemon(colour_site, REPO)
    try:
        log = LogReader(process)
        log.wait_for("running 1 camera")
        assert wait_until(lambda: _health(port)[1]["cameras"]["cam1"]["conditions"] == ["no_frames"])
        status = json.loads(http_get(f"http://127.0.0.1:{port}/status")[1])
        assert status["cameras"]["cam1"]["connected"] is False and process.poll() is None
        if kind == "garbage_stream":
            assert wait_until(lambda: garbage.connections >= 2)  # it keeps trying
            assert "hunter2" not in json.dumps(status)
        code, summary = _stop(process)
    finally:
        process.kill()
        garbage.close()
    assert code == 0 and summary["frames"] == 0, log.rest()
    assert "Traceback" not in log.text and "hunter2" not in log.text
    events = read_events(_events_path(colour_site))
    assert [e.type for e in events if e.phase == "start"] == ["camera_no_frames"]


def test_a_truncated_video_file_runs_the_frames_it_has_and_ends_cleanly(colour_site, colour_video):
    data = colour_video.path.read_bytes()
    colour_video.path.write_bytes(data[: len(data) * 6 // 10])  # a copy cut short, a card pulled mid-write
    process = spawn_daemon(colour_site, REPO)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    summary = json.loads(out[out.index("{") :])
    assert 0 < summary["frames"] < colour_video.frames
    assert "Traceback" not in err
