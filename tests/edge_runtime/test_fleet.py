"""A small fleet on one real Mosquitto: three real daemons, status, a canary that fails, a rollout that
succeeds over HTTP (resumed after a cut), a device that was off catching up, bundles that are never run.

The 10-device version is test_fleet_scale.py (slow); this one keeps the fast suite's share small.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from daemon_helpers import free_port, http_get, wait_until
from fleet_helpers import (
    Devices,
    RangeServer,
    bundle_id,
    bundle_variant,
    on_bundle,
    pack,
    roll_out,
    slow_video,
    tampered,
)

from edge_runtime.fleet import cli
from edge_runtime.fleet.messages import FleetTopics
from edge_runtime.fleet.view import Broker, FleetView
from edge_runtime.fleet.web import build_app
from edge_runtime.signing import generate_key

REPO = Path(__file__).resolve().parents[2]
NAMES = ["dev-0", "dev-1", "dev-2"]
START_S = 120.0  # generous: three daemons importing OpenVINO on two shared cores


@pytest.fixture
def fleet(tmp_path, tiny_bundle, mosquitto):
    private, public = generate_key(tmp_path / "keys" / "release")
    bundles = {
        "v1": bundle_variant(tiny_bundle, tmp_path / "shared" / "v1", "1.0.0", key=private),
        # v2 renamed a class: a site whose rule still names "blue" cannot run it
        "v2": bundle_variant(
            tiny_bundle, tmp_path / "shared" / "v2", "2.0.0", key=private, classes=["red", "green", "cyan"]
        ),
        "v3": bundle_variant(tiny_bundle, tmp_path / "shared" / "v3", "3.0.0", key=private),
        "unsigned": bundle_variant(tiny_bundle, tmp_path / "shared" / "unsigned", "4.0.0", key=None),
    }
    devices = Devices(
        tmp_path / "devices",
        REPO,
        bundle=bundles["v1"],
        video=slow_video(tmp_path / "cam.avi"),
        public_key=public,
        port=mosquitto.port,
        window_s=30.0,
    )
    view = FleetView(Broker(port=mosquitto.port), FleetTopics())
    yield devices, bundles, view
    view.close()
    devices.close()


def test_a_small_fleet_rolls_out_with_a_canary_rolls_back_and_catches_up(fleet, mosquitto, tmp_path):
    devices, bundles, view = fleet
    v1, v2, v3 = (bundle_id(bundles[v]) for v in ("v1", "v2", "v3"))
    devices.start("dev-0", labels=("red", "blue"))  # the site whose rule v2 breaks
    for name in NAMES[1:]:
        devices.start(name)
    assert view.wait(on_bundle(view, NAMES, v1), START_S), [r.message for r in view.rows()]

    shown: list[str] = []
    assert cli.status(Broker(port=mosquitto.port), say=shown.append) == 0
    assert all(name in shown[0] for name in NAMES) and shown[0].count("tiny-colour 1.0.0") == 3
    assert "release" in shown[0] and "healthy" in shown[0]
    page = _fleet_page(view)
    assert page["online"] == 3 and page["healthy"] == 3 and [r["device"] for r in page["rows"]] == NAMES

    # 1. the canary (dev-0, first by name) fails its health check on v2: rolled back, nobody else moved
    said: list[str] = []
    assert roll_out(str(bundles["v2"]), mosquitto.port, "1", said) == 1, said
    assert view.wait(on_bundle(view, NAMES, v1), 60.0)
    assert any("dev-0 rolled_back" in line and "'blue'" in line for line in said), said
    assert view.row("dev-0").message.rollout.rollout.endswith("-rollback")  # sent back by the rollout too
    for name in NAMES[1:]:
        assert view.row(name).message.rollout is None  # never asked for v2
    assert "the pipeline on" in devices.log("dev-0") and "rolling back" in devices.log("dev-0")

    # 2. a device loses power: the fleet sees it within 5 s (its last will)
    devices.kill("dev-2")
    killed = time.monotonic()
    assert view.wait(lambda: view.row("dev-2").online is False, 5.0)
    print(f"dev-2 shown offline {time.monotonic() - killed:.2f} s after SIGKILL")

    # 3. v3 over HTTP, the first transfer cut halfway: canary healthy, the online rest follows
    archive = pack(bundles["v3"])
    http = RangeServer(archive.read_bytes())
    http.cuts = {1: archive.stat().st_size // 2}  # 0: the rollout checks it; 1: the canary's first try
    try:
        said.clear()
        assert roll_out(http.url, mosquitto.port, "1", said) == 0, said
        assert view.wait(on_bundle(view, NAMES[:2], v3), 30.0)
        assert "offline now" in said[-1] and "dev-2" in said[-1]
        assert http.requests[2] == f"bytes={archive.stat().st_size // 2}-", (
            http.requests
        )  # the canary resumed

        # 4. dev-2 comes back: the retained desired state brings it to v3
        devices.start("dev-2")
        assert view.wait(on_bundle(view, NAMES, v3), START_S), view.row("dev-2")
    finally:
        http.close()
    assert all(view.row(name).message.previous_bundle.id == v1 for name in NAMES)  # kept for a rollback

    # 5. bundles that must never run: refused by the rollout, and by a device asked directly
    assert (
        cli.main(
            [
                "rollout",
                str(bundles["unsigned"]),
                "--to",
                "conveyors",
                "--broker",
                f"127.0.0.1:{mosquitto.port}",
            ]
        )
        == 2
    )
    desired = tampered(bundles["v3"], tmp_path / "shared" / "tampered")
    view.client.publish(
        FleetTopics().device("dev-1", "desired"), desired.model_dump_json(), qos=1, retain=True
    )
    assert view.wait(
        lambda: (r := view.row("dev-1").message.rollout) is not None and r.status == "rejected", 30
    )
    assert "does not match manifest.json" in view.row("dev-1").message.rollout.reason
    assert view.wait(on_bundle(view, NAMES, v3), 10.0)  # still on v3, healthy

    codes = devices.close()
    assert codes == {name: 0 for name in NAMES}, codes
    assert view.wait(lambda: all(view.row(n).online is False for n in NAMES), 10.0)
    assert not any(v2 == view.row(n).message.bundle.id for n in NAMES)
    assert cli.forget("dev-2", Broker(port=mosquitto.port), say=said.append) == 0  # a retired box
    assert view.wait(lambda: view.row("dev-2") is None, 10.0) and view.row("dev-1") is not None


def _fleet_page(view: FleetView) -> dict:
    """The fleet page served for real (uvicorn on a free port): its HTML, then the JSON it reads."""
    server = uvicorn.Server(
        uvicorn.Config(build_app(view), port=free_port(), log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        assert wait_until(lambda: server.started, 30.0)
        url = f"http://127.0.0.1:{server.config.port}"
        status, html = http_get(url + "/")
        assert status == 200 and b"/api/fleet" in html
        status, body = http_get(url + "/api/fleet")
        assert status == 200
        return json.loads(body)
    finally:
        server.should_exit = True
        thread.join(10)
