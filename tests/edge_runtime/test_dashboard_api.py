"""The dashboard's HTTP side against a running daemon: pages, JSON, frames, MJPEG, the token gate, zone YAML."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from daemon_helpers import post_json, wait_for_value

from edge_runtime.bundle import load_bundle
from edge_runtime.config import load_site_config
from edge_runtime.errors import ConfigError
from edge_runtime.web.i18n import MESSAGES

REPO = Path(__file__).parents[2]
WEB = REPO / "edge_runtime" / "web"
TOKEN = "a-long-random-site-token"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.build_opener(NoRedirect).open(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


_post, _wait = post_json, wait_for_value


def test_a_non_local_binding_without_a_token_refuses_to_start(colour_site):
    with pytest.raises(ConfigError, match=r"http.token is required when http.host is '0.0.0.0'"):
        load_site_config(colour_site, ["http.host=0.0.0.0"])
    result = subprocess.run(
        [sys.executable, "-m", "edge_runtime", "run", "--config", str(colour_site), "http.host=192.168.1.20"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2 and "http.token is required" in result.stderr, result.stderr
    assert load_site_config(colour_site, ["http.host=0.0.0.0", f"http.token={TOKEN}"]).http.token is not None


def test_pages_and_json_show_the_running_cameras_events_and_model(start_daemon, tiny_bundle):
    daemon = start_daemon()
    recommended, _ = load_bundle(tiny_bundle).recommended()
    assert f'<b id="recommended">{recommended.key}</b>'.encode() in _get(daemon.url + "/model")[2]
    for page in ("/", "/live/cam1", "/events", "/model", "/zones", "/?lang=zh-CN"):
        code, _, body = _get(daemon.url + page)
        assert code == 200 and b"<main>" in body, page
    assert "总览".encode() in _get(daemon.url + "/?lang=zh-CN")[2]
    assert b"tiny-colour" in _get(daemon.url + "/model")[2] and b"onnx-fp32" in _get(daemon.url + "/model")[2]
    assert _get(daemon.url + "/live/nope")[0] == 404

    first = json.loads(_get(daemon.url + "/api/overview")[2])
    camera = first["cameras"][0]
    assert camera["name"] == "cam1" and camera["state"] == "online" and camera["size"] == [64, 48]
    assert first["model"]["artifact"] == "onnx-fp32" and first["sinks"][0]["name"] == "jsonl"
    later = _wait(
        lambda: (
            (o := json.loads(_get(daemon.url + "/api/overview")[2]))["cameras"][0]["frame"] != camera["frame"]
            and o
        )
    )
    assert later["cameras"][0]["processed"] > camera["processed"]

    def delivered_starts():
        listed = json.loads(_get(daemon.url + "/api/events")[2])["events"]
        assert all(e["delivered"].keys() == {"jsonl"} for e in listed)
        return [e for e in listed if e["phase"] == "start" and e["delivered"]["jsonl"]]

    newest = _wait(delivered_starts)[0]
    assert not newest["in_outbox"]
    assert newest["extra"]["snapshot"].startswith("/snapshots/")  # a URL path on the same host
    code, headers, body = _get(daemon.url + newest["extra"]["snapshot"])
    assert code == 200 and headers["content-type"] == "image/jpeg" and body[:2] == b"\xff\xd8"
    assert _get(f"{daemon.url}/snapshots/..%2Fsite.yaml")[0] == 404
    filtered = json.loads(_get(f"{daemon.url}/api/events?type={newest['type']}")[2])["events"]
    assert filtered and {e["type"] for e in filtered} == {newest["type"]}
    future = json.loads(_get(f"{daemon.url}/api/events?since=2999-01-01T00:00:00Z")[2])["events"]
    assert future == []


def test_one_row_per_incident_with_duration_severity_and_a_durable_acknowledgement(start_daemon, tmp_path):
    daemon = start_daemon()

    def incidents(query: str = "") -> list[dict]:
        return json.loads(_get(f"{daemon.url}/api/incidents{query}")[2])["incidents"]

    ended = _wait(lambda: [i for i in incidents("?type=red_seen") if i["status"] == "ended"])[0]
    events = json.loads(_get(f"{daemon.url}/api/events?type=red_seen&limit=1000")[2])["events"]
    mine = [e for e in events if e["id"] == ended["id"] or e["extra"].get("start_id") == ended["id"]]
    assert {e["phase"] for e in mine} == {"start", "end"} and ended["events"] == len(mine)  # one row for both
    end = next(e for e in mine if e["phase"] == "end")
    assert ended["duration_s"] == end["extra"]["duration_s"] >= 0 and ended["end_ts"] == end["ts"]
    assert ended["severity"] == "critical" and ended["snapshot"].startswith("/snapshots/")
    assert ended["ack"] is None and ended["camera"] == "cam1" and ended["label"] == "red"
    blue = _wait(lambda: incidents("?severity=warning"))
    assert {i["type"] for i in blue} == {"blue_seen"}  # the blue rule keeps the default severity

    code, ack = _post(f"{daemon.url}/api/events/{ended['id']}/ack", {"by": "  Li   Wei "})
    assert code == 200 and ack["by"] == "Li Wei" and ack["event_id"] == ended["id"]
    code, again = _post(f"{daemon.url}/api/events/{ended['id']}/ack", {"by": "someone later"})
    assert code == 200 and again == ack  # the first acknowledgement stands
    shown = next(i for i in incidents("?type=red_seen") if i["id"] == ended["id"])
    assert shown["ack"] == ack  # every viewer sees it
    assert _post(f"{daemon.url}/api/events/{'f' * 32}/ack", {"by": "x"})[0] == 404
    assert _post(f"{daemon.url}/api/events/{ended['id']}/ack", {"by": 7})[0] == 400
    daemon.close()
    from edge_runtime.web.acks import AckStore

    store = AckStore(tmp_path / "events" / "acks.sqlite")  # beside the outbox: kept across restarts
    try:
        assert store.lookup([ended["id"]])[ended["id"]].to_dict() == ack
    finally:
        store.close()


def test_frames_are_jpegs_and_the_mjpeg_stream_brings_new_ones(start_daemon):
    daemon = start_daemon(live_fps=10)
    code, headers, body = _get(daemon.url + "/api/cameras/cam1/frame.jpg")
    image = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
    assert code == 200 and image.shape == (48, 64, 3) and int(headers["x-frame-index"]) >= 0
    with urllib.request.urlopen(daemon.url + "/api/cameras/cam1/stream.mjpg", timeout=10) as stream:
        assert stream.headers["content-type"].startswith("multipart/x-mixed-replace")
        seen = b""
        while seen.count(b"--frame") < 4:
            seen += stream.read1(65536)
    parts = [part for part in seen.split(b"--frame") if b"\xff\xd8" in part]
    assert len(parts) >= 3
    assert len({part[part.index(b"\xff\xd8") :] for part in parts}) >= 2  # the picture moves on


def test_the_token_gate_guards_every_route_but_a_terse_healthz(start_daemon):
    daemon = start_daemon(token=TOKEN)
    for path in ("/status", "/metrics", "/api/overview", "/api/cameras/cam1/frame.jpg", "/static/app.js"):
        assert _get(daemon.url + path)[0] == 401, path
    code, _, body = _get(daemon.url + "/", {"Accept": "text/html"})
    assert code == 401 and b'name="token"' in body
    code, _, body = _get(daemon.url + "/healthz")
    assert json.loads(body).keys() == {"ok"}
    assert "cameras" in json.loads(_get(daemon.url + "/healthz", {"Authorization": f"Bearer {TOKEN}"})[2])
    assert _get(daemon.url + "/status", {"Authorization": "Bearer wrong-token-of-some-length"})[0] == 401
    assert _get(daemon.url + "/metrics", {"Authorization": f"Bearer {TOKEN}"})[0] == 200

    code, headers, _ = _get(f"{daemon.url}/events?token={TOKEN}&lang=en")
    assert code == 303 and headers["location"] == "/events?lang=en"
    cookie = headers["set-cookie"].split(";", 1)[0]
    assert TOKEN not in cookie and "httponly" in headers["set-cookie"].lower()
    assert _get(daemon.url + "/api/overview", {"Cookie": cookie})[0] == 200


def test_the_zone_editor_back_end_returns_yaml_the_validator_accepts(start_daemon):
    daemon = start_daemon()
    zone = [[0.1, 0.2], [0.9, 0.2], [0.5, 0.95]]
    code, answer = _post(
        daemon.url + "/api/rules/yaml",
        {"name": "red-zone", "camera": "cam1", "labels": ["red"], "min_score": 0.55, "zone": zone},
    )
    assert code == 200 and "detect" in answer["warning"]  # the tiny bundle classifies
    rule = yaml.safe_load(answer["yaml"])["rules"][0]
    assert rule == {"name": "red-zone", "camera": "cam1", "labels": ["red"], "min_score": 0.55, "zone": zone}
    site = yaml.safe_load(daemon.site.read_text())
    site["rules"].append(rule)
    daemon.site.write_text(yaml.safe_dump(site))
    assert load_site_config(daemon.site).rules[-1].zone == [tuple(p) for p in zone]

    code, answer = _post(
        daemon.url + "/api/rules/yaml",
        {"name": "wire", "camera": "cam1", "labels": ["purple"], "tripwire": {"line": [[0, 0.5], [1, 0.5]]}},
    )
    assert code == 422 and "'purple' not among the bundle's classes" in answer["error"]
    code, answer = _post(daemon.url + "/api/rules/yaml", {"name": "z", "labels": ["red"], "zone": [[0, 0]]})
    assert code == 422 and "zone" in answer["error"]


def test_both_languages_have_every_text_the_pages_use():
    assert MESSAGES["en"].keys() == MESSAGES["zh-CN"].keys()
    sources = [*WEB.glob("templates/*.html"), *WEB.glob("static/*.js")]
    used = {
        key
        for path in sources
        for key in re.findall(r"""\bt\(["']([a-z_]+\.[a-z_]+)["']\)""", path.read_text())
    }
    assert used and used <= MESSAGES["en"].keys(), used - MESSAGES["en"].keys()
