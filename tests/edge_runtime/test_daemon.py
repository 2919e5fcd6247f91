"""The daemon as a process: observation endpoints, sd_notify, kill -9 with a full outbox, exit codes."""

from __future__ import annotations

import json
import shutil
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from daemon_helpers import LogReader, edit_site, finish_into_webhook, free_port, spawn_daemon

from edge_runtime.events import read_events

REPO = Path(__file__).parents[2]


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_kill_9_loses_nothing_from_the_outbox_and_the_daemon_reports_itself(colour_site, tmp_path):
    http_port, dead_port = free_port(), free_port()

    def first_run(site):
        site["cameras"][0].update(loop=True, realtime=True)
        site["http"] = {"port": http_port}
        site["sinks"]["webhook"] = {
            "url": f"http://127.0.0.1:{dead_port}/events",
            "timeout_s": 1,
            "headers": {"Authorization": "Bearer topsecret"},
        }
        site["outbox"]["retry_max_s"] = 1

    edit_site(colour_site, first_run)
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.settimeout(30)
    process = spawn_daemon(
        colour_site, REPO, NOTIFY_SOCKET=str(tmp_path / "notify.sock"), WATCHDOG_USEC="1000000"
    )
    events_path = Path(yaml.safe_load(colour_site.read_text())["sinks"]["jsonl"]["path"])
    try:
        log = LogReader(process)
        log.wait_for("running 1 camera")
        messages = {notify.recv(64).decode() for _ in range(2)}
        assert messages == {"READY=1", "WATCHDOG=1"}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (not events_path.exists() or len(read_events(events_path)) < 3):
            time.sleep(0.2)
        code, body = _get(f"http://127.0.0.1:{http_port}/healthz")
        health = json.loads(body)
        assert code == 503 and not health["sinks"]["webhook"]["ok"] and health["sinks"]["jsonl"]["ok"]
        code, body = _get(f"http://127.0.0.1:{http_port}/status")
        assert code == 200 and b"topsecret" not in body
        status = json.loads(body)
        assert status["cameras"]["cam1"]["captured"] > 0 and status["outbox"]["depth"] >= 3
        # the group commit's queue and back-pressure (none here: a few events, an idle disk)
        assert status["outbox"]["backpressure_waits"] == 0 and status["outbox"]["queued"] >= 0
        code, body = _get(f"http://127.0.0.1:{http_port}/metrics")
        text = body.decode()
        assert (
            'adit_outbox_depth{sink="webhook"}' in text
            and 'adit_frames_processed_total{camera="cam1"}' in text
        )
        assert 'adit_stage_latency_seconds_bucket{le="+Inf",stage="infer"}' in text
        assert 'adit_stage_latency_seconds_bucket{le="+Inf",stage="commit"}' in text  # the writer's commits
        assert "adit_outbox_backpressure_waits_total 0.0" in text and "adit_outbox_queued" in text
        assert "topsecret" not in log.text
        process.kill()  # SIGKILL: no drain, no flush, nothing but what is on disk
        process.wait(10)
    finally:
        process.kill()
        notify.close()
    seen = [e.id for e in read_events(events_path)]
    assert len(seen) >= 3

    received = finish_into_webhook(colour_site, REPO)
    missing = set(seen) - set(received)
    assert not missing, f"{len(missing)} event(s) of the killed run never reached the webhook"
    assert received[: len(seen)] == seen  # resumed in order


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("tamper", "sha256"),
        ("remove", "bundle"),
        ("source", "cannot open"),
    ],
)
def test_bad_inputs_exit_2_with_a_clear_message(colour_site, tiny_bundle, tmp_path, damage, message):
    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, bundle)
    if damage == "tamper":
        onnx_file = next(bundle.rglob("*.onnx"))
        onnx_file.write_bytes(onnx_file.read_bytes()[:-1] + b"\0")
    elif damage == "remove":
        shutil.rmtree(bundle)

    def point(site):
        site["model"]["bundle"] = str(bundle)
        site["model"]["artifact"] = "onnx-fp32"
        if damage == "source":
            junk = tmp_path / "junk.avi"
            junk.write_bytes(b"not a video")
            site["cameras"][0]["source"] = str(junk)

    edit_site(colour_site, point)
    process = spawn_daemon(colour_site, REPO)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 2 and "Traceback" not in err
    assert err.startswith("error: ") or "\nerror: " in err
    assert message in err.lower(), err
