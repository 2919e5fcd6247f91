"""The smaller failure classes of issue 15, each against the real daemon: one outbox per daemon, SIGHUP,
the Host header, bounded and shallow request bodies, durations across a camera reconnect."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import threading
import time
from pathlib import Path

import yaml
from daemon_helpers import LogReader, edit_site, spawn_daemon, wait_until

from edge_runtime.config import SiteConfig
from edge_runtime.events import read_events
from edge_runtime.pipeline import run
from edge_runtime.web.guard import MAX_BODY_BYTES

REPO = Path(__file__).parents[2]


def _looping(site: dict) -> None:
    site["cameras"][0].update(loop=True, realtime=True)
    site["http"] = {"enabled": False}


def test_a_second_daemon_on_the_same_outbox_exits_2(colour_site):
    edit_site(colour_site, _looping)
    first = spawn_daemon(colour_site, REPO)
    try:
        log = LogReader(first)
        log.wait_for("running 1 camera")
        second = spawn_daemon(colour_site, REPO)
        _, err = second.communicate(timeout=120)
        assert second.returncode == 2 and "Traceback" not in err
        assert f"is in use by another adit daemon (pid {first.pid})" in err
        first.kill()  # kill -9: the kernel releases the lock with the process
        first.wait(10)
        third = spawn_daemon(colour_site, REPO)
        LogReader(third).wait_for("running 1 camera")
        third.send_signal(signal.SIGTERM)
        assert third.wait(60) == 0
    finally:
        first.kill()


def test_sighup_drains_and_reloads_and_a_bad_file_keeps_the_running_configuration(colour_site):
    edit_site(colour_site, _looping)
    process = spawn_daemon(colour_site, REPO)
    events = Path(yaml.safe_load(colour_site.read_text())["sinks"]["jsonl"]["path"])
    try:
        log = LogReader(process)
        log.wait_for("running 1 camera")
        assert wait_until(
            lambda: events.exists() and any(e.phase == "start" for e in read_events(events)), 60
        )
        edit_site(
            colour_site,
            lambda site: site["rules"].append(
                {"name": "green-rule", "labels": ["green"], "min_score": 0.6, "event_type": "green_seen"}
            ),
        )
        process.send_signal(signal.SIGHUP)
        log.wait_for("SIGHUP: configuration")
        assert wait_until(lambda: log.text.count("running 1 camera") == 2, 60)
        assert wait_until(
            lambda: "green_seen" in {e.type for e in read_events(events)}, 60
        )  # the new rule runs
        colour_site.write_text(colour_site.read_text() + "rules: []\n")  # a key given twice: refused
        process.send_signal(signal.SIGHUP)
        log.wait_for("the configuration was not reloaded")
        assert wait_until(lambda: log.text.count("running 1 camera") == 3, 60)
        assert process.poll() is None  # still running, on the previous configuration
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0 and out.count('"frames"') == 3  # three runs, each drained and summarised
    ends = [e for e in read_events(events) if e.phase == "end" and e.extra["reason"] == "stopped"]
    assert ends  # a reload ends the open events like a stop does: nothing left half-open


def _raw(port: int, request: bytes, read: bool = True) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(request)
        response = http.client.HTTPResponse(conn)
        response.begin()
        return response.status, response.read() if read else b""


def _post(port: int, body: bytes, host: str = "127.0.0.1") -> tuple[int, bytes]:
    head = (
        f"POST /api/rules/yaml HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return _raw(port, head.encode() + body)


def test_on_localhost_without_a_token_only_loopback_host_names_are_served(start_daemon):
    daemon = start_daemon()
    port = int(daemon.url.rsplit(":", 1)[1])
    for host in ("rebind.evil.example", "rebind.evil.example:80", f"192.168.1.20:{port}"):
        assert (
            _raw(port, f"GET /status HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())[0]
            == 400
        )
    for host in ("127.0.0.1", f"127.0.0.1:{port}", f"localhost:{port}", "[::1]"):
        code, body = _raw(port, f"GET /status HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        assert code == 200 and "cameras" in json.loads(body), host


def test_request_bodies_are_bounded(start_daemon):
    daemon = start_daemon()
    port = int(daemon.url.rsplit(":", 1)[1])
    huge = "POST /api/rules/yaml HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 400000000\r\n\r\n"
    assert _raw(port, huge.encode() + b"{" * 1000)[0] == 413  # refused on the announcement, before 400 MB
    chunked = "POST /api/rules/yaml HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunk = b"x" * 16384
    body = b"".join(b"%x\r\n" % len(chunk) + chunk + b"\r\n" for _ in range(MAX_BODY_BYTES // len(chunk) + 2))
    assert _raw(port, chunked.encode() + body + b"0\r\n\r\n")[0] == 413  # streamed past the bound
    assert _post(port, json.dumps({"name": "r", "labels": ["red"]}).encode())[0] == 200


def test_deeply_nested_json_is_a_clean_400(start_daemon):
    daemon = start_daemon()
    port = int(daemon.url.rsplit(":", 1)[1])
    code, body = _post(port, b"[" * 30_000 + b"]" * 30_000)
    assert code == 400 and "nested too deeply" in json.loads(body)["error"]
    code, body = _post(port, b'{"name": "r", "labels": ' + b"[" * 20 + b'"red"' + b"]" * 20 + b"}")
    assert code == 400 and "nested more than" in json.loads(body)["error"]
    assert _raw(port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")[0] in (
        200,
        503,
    )


def test_durations_never_go_negative_across_a_camera_reconnect(rtsp_server, tiny_bundle, tmp_path):
    events_path = tmp_path / "events.jsonl"
    config = SiteConfig.model_validate(
        {
            "model": {"bundle": str(tiny_bundle)},
            "cameras": [
                {
                    "name": "rtsp",
                    "source": rtsp_server.url,
                    "reconnect": {"min_s": 0.5, "max_s": 1.0},
                    "health": {
                        "check_every_s": 0.2,
                        "hold_s": 0.0,
                        "no_frames_s": 1.0,
                        "sharpness_below": 0.0,
                        "frozen_change_below": 0.0,
                        "dark_below": 0.0,
                    },
                }
            ],
            # every frame matches: the event starts at once and stays open across the outage
            "rules": [
                {
                    "name": "any",
                    "labels": ["red", "green", "blue"],
                    "min_score": 0.0,
                    "debounce": {"hits": 1, "window": 60},
                }
            ],
            "sinks": {"jsonl": {"path": str(events_path)}},
            "outbox": {"path": str(tmp_path / "outbox.sqlite")},
            "http": {"enabled": False},
        }
    )
    stop = threading.Event()
    daemon = threading.Thread(target=run, args=(config, stop), daemon=True)
    daemon.start()
    try:

        def rule_started() -> bool:  # not just any event: the camera may be reported lost while it connects
            return events_path.exists() and any(e.rule == "any" for e in read_events(events_path))

        assert wait_until(rule_started, 60)
        time.sleep(2.0)

        def lost(phase: str) -> int:  # the camera may also be reported lost while it first connects
            return sum(e.type == "camera_no_frames" and e.phase == phase for e in read_events(events_path))

        before = lost("end")
        rtsp_server.kill()
        outage = time.monotonic()
        assert wait_until(lambda: lost("start") > before, 30)
        time.sleep(3.0)
        rtsp_server.start()
        assert wait_until(lambda: lost("end") > before, 60)
        outage = time.monotonic() - outage
        time.sleep(1.0)
    finally:
        stop.set()
        daemon.join(60)
    events = read_events(events_path)
    ends = [e for e in events if e.phase == "end"]
    assert ends and all(e.extra["duration_s"] >= 0 for e in ends)  # every end event carries one
    [rule_end] = [e for e in ends if e.rule == "any"]
    assert (
        rule_end.extra["duration_s"] >= outage
    )  # the event spanned the outage, and the clock did not restart
    last_lost = [e for e in ends if e.type == "camera_no_frames"][-1]
    assert 2.0 <= last_lost.extra["duration_s"] <= outage + 1.0
