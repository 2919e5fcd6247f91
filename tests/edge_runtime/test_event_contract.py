"""The published event contract: docs/events is generated from edge_runtime's models, says what they say."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import get_args

import pytest
from event_contract import contract_errors
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from edge_runtime.event_schema import drift, main, schema_files, validate_event
from edge_runtime.events import Kind
from edge_runtime.state import state_schemas

DOCS = Path(__file__).resolve().parents[2] / "docs" / "events"
START = {
    "schema_version": 1,
    "id": "a" * 32,
    "ts": "2026-01-31T06:00:00.123+00:00",
    "kind": "rule",
    "camera": "cam1",
    "type": "person_in_zone",
    "label": "person",
    "score": 0.91,
    "frame": 42,
    "pts_s": 1.4,
    "rule": "danger-zone",
    "severity": "critical",
    "phase": "start",
    "extra": {"snapshot": "/snapshots/cam1_00000042_aaaa.jpg"},
}
END = START | {
    "id": "b" * 32,
    "phase": "end",
    "extra": {"start_id": "a" * 32, "duration_s": 3.2, "reason": "absent"},
}
HEALTH_END = START | {
    "kind": "camera_health",
    "type": "camera_dark",
    "label": "dark",
    "rule": "health",
    "phase": "end",
    "extra": {"start_id": "a" * 32, "duration_s": 0.0, "brightness": 40.2},
}


def test_the_published_schemas_are_the_models_schemas():
    stale = drift(DOCS, schema_files(state_schemas()))
    assert not stale, (
        f"docs/events is out of date: run python -m edge_runtime.event_schema docs/events --write ({stale})"
    )
    assert main([str(DOCS)]) == 0


def test_a_changed_schema_file_is_reported_as_drift(tmp_path):
    assert main([str(tmp_path), "--write"]) == 0
    text = (tmp_path / "rule.schema.json").read_text()
    (tmp_path / "rule.schema.json").write_text(text.replace('"minimum": 0.0', '"minimum": -1.0', 1))
    assert main([str(tmp_path)]) == 1


def _broken(event: dict, path: str, value: object) -> dict:
    broken = copy.deepcopy(event)
    *parents, last = path.split(".")
    target = broken
    for key in parents:
        target = target[key]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return broken


GOOD = [START, END, HEALTH_END]
BAD = [
    ("end without duration", _broken(END, "extra.duration_s", KeyError)),
    ("negative duration", _broken(END, "extra.duration_s", -0.5)),
    ("health end without duration", _broken(HEALTH_END, "extra.duration_s", KeyError)),
    ("unknown kind", _broken(START, "kind", "system")),
    ("unknown key", _broken(START, "colour", "red")),
    ("unknown extra key", _broken(START, "extra.note", "x")),
    ("bare snapshot file name", _broken(START, "extra.snapshot", "cam1_00000042_aaaa.jpg")),
    ("score above 1", _broken(START, "score", 1.5)),
    ("string frame", _broken(START, "frame", "42")),
    ("future version", _broken(START, "schema_version", 2)),
    ("health label not a condition", _broken(HEALTH_END, "label", "smoke")),
    ("end reason unknown", _broken(END, "extra.reason", "timeout")),
]


@pytest.mark.parametrize("event", GOOD, ids=["start", "end", "health-end"])
def test_the_schema_and_the_model_accept_a_conforming_event(event):
    assert contract_errors(event) == []
    assert validate_event(event).model_dump(by_alias=True, exclude_unset=True) == event


@pytest.mark.parametrize(("why", "event"), BAD, ids=[why for why, _ in BAD])
def test_the_schema_and_the_model_refuse_a_broken_event(why, event):
    assert contract_errors(event), why
    with pytest.raises(ValidationError):
        validate_event(event)


def test_every_kind_has_its_own_schema_file_and_the_union_names_them_all():
    union = json.loads((DOCS / "event.schema.json").read_text())
    kinds = set(get_args(Kind))  # every producer the Event type allows
    assert {p.name for p in DOCS.glob("*.schema.json")} >= {f"{k}.schema.json" for k in kinds}
    assert set(union["discriminator"]["mapping"]) == kinds
    assert union["$id"] == "urn:adit:schema:event:v1" and union["version"] == 1


def test_the_examples_in_docs_events_md_follow_the_schemas():
    text = (DOCS.parent / "events.md").read_text()
    blocks = [json.loads(block.split("```", 1)[0]) for block in text.split("```json\n")[1:]]
    assert len(blocks) == 2
    assert contract_errors(blocks[0]) == []
    camera = Draft202012Validator(json.loads((DOCS / "state_camera.schema.json").read_text()))
    assert not list(camera.iter_errors(blocks[1]))
