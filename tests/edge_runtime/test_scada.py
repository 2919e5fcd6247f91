"""Control-room outputs of a running daemon: a real asyncua client reads the OPC UA nodes, a real MQTT
subscriber reads the retained state topics, while the daemon runs a belt video and a vibration stream."""

from __future__ import annotations

import asyncio
import json
import math
import socket
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from asyncua import Client, ua
from conftest import RunningDaemon, Subscriber
from daemon_helpers import free_port, wait_until
from jsonschema import Draft202012Validator

from edge_runtime.config import SiteConfig, load_site_config
from edge_runtime.errors import ConfigError
from edge_runtime.opcua_server import Layout, OpcUaServer
from edge_runtime.state import SiteState
from train.signal.synth import SynthSettings, bearing_signal

DOCS = Path(__file__).resolve().parents[2] / "docs" / "events"
FAULTS = ["ball", "inner_race", "outer_race"]
NAMESPACE = "urn:adit:test-site"


def _site(belt_site: Path, signal_bundle: Path, tmp_path: Path, **sections: object) -> Path:
    """The belt camera (looping, paced) and a machine that runs 2 s healthy, then 20 s inner-race fault."""
    stream = tmp_path / "drive.npy"
    healthy = bearing_signal("normal", 1, 21, SynthSettings(seconds=2.0))
    np.save(
        stream, np.concatenate([healthy, bearing_signal("inner_race", 1, 22, SynthSettings(seconds=20.0))])
    )
    data = yaml.safe_load(belt_site.read_text())
    data["cameras"][0].update(loop=True, realtime=True)
    data["machines"] = [
        {"name": "drive-1", "source": str(stream), "bundle": str(signal_bundle), "realtime": True}
    ]
    data["rules"] = [
        {
            "name": "bearing-fault",
            "camera": "drive-1",
            "labels": FAULTS,
            "min_score": 0.0,
            "debounce": {"hits": 4, "window": 6},
            "cooldown_s": 60.0,
            "severity": "critical",
        }
    ]
    data["http"] = {"port": free_port(), "benchmark": str(tmp_path / "none.json")}
    data.update(sections)
    belt_site.write_text(yaml.safe_dump(data, sort_keys=False))
    return belt_site


async def _read(url: str, keys: list[str]) -> dict[str, object]:
    async with Client(url, timeout=10) as client:
        ns = await client.get_namespace_index(NAMESPACE)
        values = {}
        for key in keys:
            values[key] = await client.get_node(ua.NodeId(key, ns)).read_value()
        return values


async def _browse(url: str) -> list[str]:
    async with Client(url, timeout=10) as client:
        ns = await client.get_namespace_index(NAMESPACE)
        camera = await client.nodes.objects.get_child([f"{ns}:adit", f"{ns}:Cameras", f"{ns}:belt"])
        return sorted([(await child.read_browse_name()).Name for child in await camera.get_children()])


async def _refuses_writes(url: str, key: str) -> bool:
    async with Client(url, timeout=10) as client:
        ns = await client.get_namespace_index(NAMESPACE)
        try:
            await client.get_node(ua.NodeId(key, ns)).write_value("tampered")
        except ua.UaStatusCodeError:
            return True
        return False


CAMERA = [
    "cameras.belt.status",
    "cameras.belt.online",
    "cameras.belt.event_count",
    "cameras.belt.frames_processed",
    "cameras.belt.last_event.type",
    "cameras.belt.last_event.time",
    "cameras.belt.belt.load",
    "cameras.belt.belt.recommended_speed_mps",
    "cameras.belt.belt.overloaded",
]
MACHINE = [
    "machines.drive-1.status",
    "machines.drive-1.health_index",
    "machines.drive-1.alarm_count",
    "machines.drive-1.last_event.type",
    "machines.drive-1.last_event.severity",
    "machines.drive-1.windows",
]


def test_an_opcua_client_reads_cameras_belts_and_machines_while_the_daemon_runs(
    belt_site, signal_bundle, tmp_path
):
    port = free_port()
    site = _site(
        belt_site, signal_bundle, tmp_path, opcua={"enabled": True, "port": port, "namespace": NAMESPACE}
    )
    config = load_site_config(site)
    daemon = RunningDaemon(config, site)
    url = f"opc.tcp://127.0.0.1:{port}/adit/"
    try:
        daemon.wait_ready()
        readings: list[dict[str, object]] = []

        def fault_seen() -> bool:
            readings.append(asyncio.run(_read(url, CAMERA + MACHINE)))
            return readings[-1]["machines.drive-1.last_event.type"] == "bearing-fault"

        assert wait_until(fault_seen, timeout_s=90, every_s=1.0), readings[-1]
        values = readings[-1]
        assert values["cameras.belt.status"] == "online" and values["cameras.belt.online"] is True
        assert values["cameras.belt.event_count"] >= 1 and values["cameras.belt.frames_processed"] > 0
        assert values["cameras.belt.last_event.type"] in ("belt_speed", "belt_overload")
        assert values["cameras.belt.last_event.time"].year >= 2025
        speed = config.belt_load.speed
        assert 0.0 <= values["cameras.belt.belt.load"] <= 1.0
        assert speed.min_mps <= values["cameras.belt.belt.recommended_speed_mps"] <= speed.max_mps
        assert isinstance(values["cameras.belt.belt.overloaded"], bool)
        assert values["machines.drive-1.status"] == "running" and values["machines.drive-1.alarm_count"] == 1
        assert values["machines.drive-1.last_event.severity"] == "critical"
        assert (
            0.0 <= values["machines.drive-1.health_index"] <= 1.0 and values["machines.drive-1.windows"] > 0
        )
        frames = [r["cameras.belt.frames_processed"] for r in readings]
        assert frames[-1] > frames[0], "the nodes are refreshed while the daemon runs"
        assert "BeltLoad" in asyncio.run(_browse(url)) and "Status" in asyncio.run(_browse(url))
        assert asyncio.run(_refuses_writes(url, "cameras.belt.status"))
    finally:
        daemon.close()
    with socket.socket() as probe:  # the server stopped with the daemon
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_opcua_is_off_by_default_and_a_taken_port_is_a_config_error():
    assert SiteConfig().opcua.enabled is False
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        config = SiteConfig(opcua={"enabled": True, "port": taken.getsockname()[1]})
        empty = SiteState(uptime_s=0.0, artifact="", cameras=[], machines=[])
        with pytest.raises(ConfigError, match="opcua: cannot serve on 127.0.0.1"):
            OpcUaServer(config.opcua, Layout([], [], []), lambda: empty)


def test_port_0_takes_a_free_port_and_the_site_nodes_are_served():
    state = SiteState(uptime_s=12.5, artifact="openvino-int8", cameras=[], machines=[])
    config = SiteConfig(opcua={"enabled": True, "port": 0, "namespace": NAMESPACE}).opcua
    server = OpcUaServer(config, Layout([], [], []), lambda: state)
    try:
        assert server.port > 0 and server.endpoint == f"opc.tcp://127.0.0.1:{server.port}/adit/"
        assert wait_until(lambda: server.updates > 0, timeout_s=30)
        values = asyncio.run(_read(server.endpoint, ["site.artifact", "site.uptime_s"]))
        assert values == {"site.artifact": "openvino-int8", "site.uptime_s": 12.5}
    finally:
        server.close()


def test_retained_state_topics_tell_a_late_reader_the_site_state(
    belt_site, signal_bundle, tmp_path, mosquitto
):
    mqtt = {
        "jsonl": {"path": str(tmp_path / "events.jsonl")},
        "mqtt": {"port": mosquitto.port, "client_id": "edge-7", "state": {"every_s": 0.2}},
    }
    site = _site(belt_site, signal_bundle, tmp_path, sinks=mqtt)
    daemon = RunningDaemon(load_site_config(site), site)
    schemas = {
        name: Draft202012Validator(json.loads((DOCS / f"state_{name}.schema.json").read_text()))
        for name in ("camera", "machine", "belt")
    }
    try:
        daemon.wait_ready()
        reader = Subscriber(
            mosquitto.port, "adit/state/#", client_id="late-plc"
        )  # subscribes after the start
        try:

            def latest() -> dict[str, dict]:
                return {topic: json.loads(payload) for topic, payload, _ in reader.messages}

            wanted = {
                "adit/state/edge-7/camera/belt",
                "adit/state/edge-7/belt/belt",
                "adit/state/edge-7/machine/drive-1",
            }
            assert wait_until(
                lambda: (
                    wanted <= latest().keys()
                    and (latest()["adit/state/edge-7/machine/drive-1"]["last_event"] or {}).get("type")
                    == "bearing-fault"
                ),
                timeout_s=90,
            ), latest()
            assert any(retained for _, _, retained in reader.messages), (
                "a late subscriber gets retained values"
            )
            state = latest()
            for topic, message in state.items():
                kind = topic.split("/")[3]
                assert not list(schemas[kind].iter_errors(message)), (topic, message)
            assert state["adit/state/edge-7/camera/belt"]["online"] is True
            assert state["adit/state/edge-7/camera/belt"]["last_event"]["kind"] == "belt_load"
            assert 0.0 <= state["adit/state/edge-7/belt/belt"]["load"] <= 1.0
            assert not math.isnan(state["adit/state/edge-7/machine/drive-1"]["health_index"])
        finally:
            reader.close()
    finally:
        daemon.close()
    after = Subscriber(mosquitto.port, "adit/state/#", client_id="after-stop")
    try:
        assert wait_until(
            lambda: (
                {json.loads(p)["state"] for t, p, _ in after.messages if "/belt/" not in t} == {"stopped"}
            ),
            timeout_s=20,
        ), after.messages
    finally:
        after.close()
    time.sleep(0)  # nothing left running: the daemon, its server threads and the reader are closed
