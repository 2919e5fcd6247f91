"""The fleet's published contract and its small pieces: schemas, config checks, canary counts, the table."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from edge_runtime.config import load_site_config
from edge_runtime.errors import ConfigError
from edge_runtime.event_schema import drift, schema_files
from edge_runtime.fleet.messages import DeviceMessage, FleetTopics, fleet_schemas
from edge_runtime.fleet.rollout import canary_count
from edge_runtime.fleet.view import Broker, DeviceRow, table

DOCS = Path(__file__).resolve().parents[2] / "docs" / "events"
DIGEST = "ab" * 32
DEVICE = {
    "schema_version": 1,
    "device": "belt-07",
    "group": "conveyors",
    "software_version": "0.1.0",
    "online": True,
    "state": "running",
    "health": "healthy",
    "health_reason": "",
    "bundle": {
        "schema_version": 1,
        "id": DIGEST,
        "name": "ppe",
        "version": "2.1.0",
        "task": "detect",
        "signer": "release-2026",
        "key_id": "0123456789abcdef",
    },
    "previous_bundle": None,
    "artifact": "openvino-int8",
    "recommended_artifact": "openvino-int8",
    "cameras": [{"schema_version": 1, "name": "belt-head", "state": "blind", "conditions": ["obscured"]}],
    "machines": [],
    "capacity": {"schema_version": 1, "fps": 9.8, "infer_p50_ms": 11.2, "cpu_count": 4, "load_1m": 1.3},
    "outbox_depth": 0,
    "rollout": {
        "schema_version": 1,
        "rollout": "r20260131-0600-ab12",
        "bundle_id": DIGEST,
        "status": "active",
        "reason": "",
        "ts": "2026-01-31T06:00:00.000+00:00",
    },
    "last_seen": "2026-01-31T06:00:05.000+00:00",
}


def test_the_published_fleet_schemas_are_the_models_schemas():
    stale = drift(DOCS, schema_files(fleet_schemas()))
    assert not stale, f"run python -m edge_runtime.event_schema docs/events --write ({stale})"


def test_a_device_message_validates_and_a_wrong_one_does_not():
    schema = json.loads((DOCS / "fleet_device.schema.json").read_text())
    validator = Draft202012Validator(schema)
    assert not list(validator.iter_errors(DEVICE))
    DeviceMessage.model_validate(DEVICE)
    bad = DEVICE | {"bundle": DEVICE["bundle"] | {"id": "not-a-digest"}}
    assert list(validator.iter_errors(bad))


def test_topics_are_per_device_and_per_group():
    topics = FleetTopics("site1/fleet")
    assert topics.device("belt-07", "state") == "site1/fleet/devices/belt-07/state"
    assert topics.group("conveyors", "desired") == "site1/fleet/groups/conveyors/desired"
    assert topics.parse_device("site1/fleet/devices/belt-07/status") == ("belt-07", "status")
    assert topics.parse_device("site1/fleet/groups/conveyors/desired") is None


@pytest.mark.parametrize(
    "spec, online, expected",
    [("10%", 12, 2), ("10%", 3, 1), ("50%", 3, 2), ("2", 12, 2), ("5", 3, 3), ("0", 12, 0), ("100%", 4, 4)],
)
def test_canary_count(spec, online, expected):
    assert canary_count(spec, online) == expected


@pytest.mark.parametrize("spec", ["ten", "-1", "150%"])
def test_a_bad_canary_is_refused(spec):
    with pytest.raises(ConfigError, match="--canary"):
        canary_count(spec, 10)


def test_fleet_needs_a_broker_and_trusted_signers(tmp_path):
    site = tmp_path / "site.yaml"
    site.write_text("fleet: {group: conveyors}\n")
    with pytest.raises(ConfigError, match="fleet: needs sinks.mqtt"):
        load_site_config(site)
    site.write_text("fleet: {group: conveyors}\nsinks: {mqtt: {client_id: belt-07}}\n")
    with pytest.raises(ConfigError, match="fleet: needs trust.keys"):
        load_site_config(site)
    site.write_text(
        "fleet: {group: conveyors}\nsinks: {mqtt: {client_id: belt-07}}\n"
        "trust: {keys: [{name: release, public_key: keys/release.pub}]}\n"
    )
    assert load_site_config(site).fleet.group == "conveyors"


def test_the_table_shows_health_bundle_signer_and_cameras():
    now = datetime(2026, 1, 31, 6, 0, 12, tzinfo=UTC)
    rows = [
        DeviceRow("belt-07", True, DeviceMessage.model_validate(DEVICE)),
        DeviceRow("belt-08", False, None),
    ]
    text = table(rows, now)
    lines = text.splitlines()
    assert lines[0].split()[:4] == ["DEVICE", "GROUP", "ONLINE", "HEALTH"]
    assert "ppe 2.1.0 (abababab)" in lines[1] and "release-2026" in lines[1] and "7 s ago" in lines[1]
    assert "0/1 ok [belt-head:blind]" in lines[1]
    assert lines[2].split()[:3] == ["belt-08", "?", "NO"]


def test_broker_addresses():
    assert Broker.parse("mqtt://10.0.0.5:8883") == Broker(host="10.0.0.5", port=8883)
    assert Broker.parse("broker.mine") == Broker(host="broker.mine")
    with pytest.raises(ValueError, match="HOST:PORT"):
        Broker.parse("broker:mqtt")


def test_the_examples_in_docs_fleet_md_follow_their_schemas():
    text = (DOCS.parent / "fleet.md").read_text()
    examples = re.findall(r"<!-- schema: (\w+) -->\n```json\n(.*?)```", text, re.S)
    assert examples, "docs/fleet.md has no example marked with its schema"
    for name, body in examples:
        schema = json.loads((DOCS / f"{name}.schema.json").read_text())
        errors = [e.message for e in Draft202012Validator(schema).iter_errors(json.loads(body))]
        assert not errors, (name, errors)


def test_an_unreachable_broker_is_bad_input(capsys):
    from edge_runtime.fleet.cli import main

    assert main(["status", "--broker", "127.0.0.1:9"]) == 2
    assert "127.0.0.1:9: cannot connect to the broker" in capsys.readouterr().err
