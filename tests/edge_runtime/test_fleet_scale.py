"""Twelve real daemons on one real Mosquitto (issue 19's fleet goals); slow: up to two minutes on two cores.

A canary that fails its health check is rolled back and nobody else moves; a rollout over HTTP reaches
every online device while one device loses its network and another its power mid-rollout, and both
catch up when they return; a tampered bundle published to the whole group runs nowhere; at the end
every device runs one whole, verified bundle. Figures are printed (run with -s).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from fleet_helpers import (
    CuttableLink,
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

from edge_runtime.bundle import load_bundle
from edge_runtime.fleet import cli
from edge_runtime.fleet.messages import FleetTopics, RolloutMessage
from edge_runtime.fleet.view import Broker, FleetView
from edge_runtime.signing import generate_key, manifest_digest

REPO = Path(__file__).resolve().parents[2]
NAMES = [f"dev-{i:02d}" for i in range(12)]
FAILING, CUT, POWER = "dev-01", "dev-10", "dev-11"


@pytest.mark.slow
def test_twelve_devices_canary_rollback_rollout_catch_up_and_no_bad_bundle(tmp_path, tiny_bundle, mosquitto):
    private, public = generate_key(tmp_path / "keys" / "release")
    v1 = bundle_variant(tiny_bundle, tmp_path / "shared" / "v1", "1.0.0", key=private)
    v2 = bundle_variant(
        tiny_bundle, tmp_path / "shared" / "v2", "2.0.0", key=private, classes=["red", "green", "cyan"]
    )
    v3 = bundle_variant(tiny_bundle, tmp_path / "shared" / "v3", "3.0.0", key=private)
    ids = {name: bundle_id(path) for name, path in (("v1", v1), ("v2", v2), ("v3", v3))}
    link = CuttableLink(mosquitto.port)
    devices = Devices(
        tmp_path / "devices",
        REPO,
        bundle=v1,
        video=slow_video(tmp_path / "cam.avi"),
        public_key=public,
        port=mosquitto.port,
        window_s=30.0,
    )
    view = FleetView(Broker(port=mosquitto.port), FleetTopics())
    archive = pack(v3)
    http = RangeServer(archive.read_bytes())
    try:
        started = time.monotonic()
        for name in NAMES:
            devices.start(
                name,
                labels=("red", "blue") if name == FAILING else ("red",),
                port=link.port if name == CUT else mosquitto.port,
            )
        assert view.wait(on_bundle(view, NAMES, ids["v1"]), 300.0), [
            (r.device, r.online) for r in view.rows()
        ]
        print(f"\n12 daemons healthy on v1 {time.monotonic() - started:.1f} s after the first start")
        shown: list[str] = []
        cli.status(Broker(port=mosquitto.port), say=shown.append)
        print(shown[0])
        assert all(name in shown[0] for name in NAMES)

        # a 20 % canary (3 devices) with one that cannot run v2: rolled back; the other 9 never moved
        said: list[str] = []
        began = time.monotonic()
        assert roll_out(str(v2), mosquitto.port, "20%", said) == 1, said
        assert view.wait(on_bundle(view, NAMES, ids["v1"]), 60.0)
        print(f"canary failure to every canary back on v1: {time.monotonic() - began:.1f} s")
        assert any(f"{FAILING} rolled_back" in line for line in said), said
        for name in NAMES[3:]:
            assert view.row(name).message.rollout is None, name

        # v3 over HTTP (one canary's transfer cut halfway); mid-rollout one device loses its network
        # and one its power
        http.cuts = {1: archive.stat().st_size // 2}
        topics, lost = FleetTopics(), {}

        def lose_two() -> None:
            def canary_phase() -> bool:
                return view.row(NAMES[0]).message.rollout is not None and any(
                    r.message.rollout and r.message.rollout.status == "switching"
                    for r in view.rows()
                    if r.message
                )

            view.wait(canary_phase, 120.0)
            link.cut()
            lost[CUT] = time.monotonic()
            devices.kill(POWER)
            lost[POWER] = time.monotonic()

        losing = threading.Thread(target=lose_two)
        losing.start()
        said.clear()
        assert roll_out(http.url, mosquitto.port, "10%", said) == 0, said
        losing.join(10)
        online = [n for n in NAMES if n not in (CUT, POWER)]
        assert view.wait(on_bundle(view, online, ids["v3"]), 30.0)
        assert view.row(CUT).online is False and view.row(POWER).online is False
        assert CUT in said[-1] and POWER in said[-1], said  # listed as catching up later
        assert f"bytes={archive.stat().st_size // 2}-" in http.requests, http.requests  # a canary resumed

        back = time.monotonic()
        link.restore()
        devices.start(POWER)
        assert view.wait(on_bundle(view, [CUT], ids["v3"]), 120.0), view.row(CUT)
        print(f"network back to {CUT} on v3: {time.monotonic() - back:.1f} s")
        assert view.wait(on_bundle(view, [POWER], ids["v3"]), 180.0), view.row(POWER)
        print(f"power back to {POWER} on v3: {time.monotonic() - back:.1f} s (includes its start)")

        # a tampered bundle published to the whole group: every device rejects it, none runs it
        evil = tampered(v3, tmp_path / "shared" / "tampered")
        group_topic = topics.group("conveyors", "desired")
        good = _retained(view, group_topic)
        view.client.publish(group_topic, evil.model_dump_json(), qos=1, retain=True).wait_for_publish(10)

        def all_rejected() -> bool:
            return all(
                (r := view.row(n).message.rollout) and r.rollout == "r-evil" and r.status == "rejected"
                for n in NAMES
            )

        assert view.wait(all_rejected, 60.0), [view.row(n).message.rollout for n in NAMES]
        view.client.publish(group_topic, good, qos=1, retain=True).wait_for_publish(10)
        assert view.wait(on_bundle(view, NAMES, ids["v3"]), 30.0)

        # 0 devices on a mixed or broken bundle: each one's current bundle verifies on disk and is v3
        for name in NAMES:
            current = devices.folder(name) / "store" / "current"
            load_bundle(current.resolve())
            assert manifest_digest(current.resolve()) == ids["v3"] == view.row(name).message.bundle.id
        rollout = RolloutMessage.model_validate_json(_retained(view, topics.group("conveyors", "rollout")))
        assert rollout.phase == "done" and rollout.bundle_id == ids["v3"]

        # a device change (power lost) reaches the fleet view within 5 s
        devices.kill(NAMES[5])
        killed = time.monotonic()
        assert view.wait(lambda: view.row(NAMES[5]).online is False, 5.0)
        print(f"{NAMES[5]} shown offline {time.monotonic() - killed:.2f} s after SIGKILL")
        assert set(devices.close().values()) == {0}
    finally:
        view.close()
        devices.close()
        http.close()
        link.close()


def _retained(view: FleetView, topic: str) -> str:
    """The retained payload of ``topic``, read with a short-lived subscription on the view's client."""
    got: list[bytes] = []
    view.client.message_callback_add(topic, lambda _c, _u, message: got.append(message.payload))
    view.client.subscribe(topic, qos=1)
    deadline = time.monotonic() + 10
    while not got and time.monotonic() < deadline:
        time.sleep(0.05)
    view.client.unsubscribe(topic)
    view.client.message_callback_remove(topic)
    assert got, f"nothing retained on {topic}"
    return got[-1].decode()
