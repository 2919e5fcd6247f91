"""The published event contract: every event kind's models together, and the JSON Schema made from them.

Every event the daemon sends (MQTT, webhook, JSONL) is one of the typed models in ``event_models``
(one per kind and phase, a module per producer), joined here into one union. The models are the one source
of truth: ``docs/events/*.schema.json`` are generated from them (``python -m edge_runtime.event_schema
--write docs/events``) and a test fails when the files and the models drift apart. Consumers switch
on ``kind``, then ``phase``; ``schema_version`` changes only when a field is removed or its meaning
changes (new optional fields keep the version). The retained state messages are in ``state``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, Field, TypeAdapter

from edge_runtime.event_models.camera import BeltEvent, DriftEvent, HealthEvent
from edge_runtime.event_models.daemon import CapacityEvent, InferenceEvent, OutboxEvent
from edge_runtime.event_models.fields import json_schema_of
from edge_runtime.event_models.rules import MachineEvent, RuleEvent

AnyEvent = Annotated[
    RuleEvent
    | MachineEvent
    | HealthEvent
    | BeltEvent
    | OutboxEvent
    | CapacityEvent
    | DriftEvent
    | InferenceEvent,
    Field(discriminator="kind"),
]

# The schema files of docs/events: name -> (title, type). ``event`` is the union every consumer can use.
SCHEMAS: dict[str, tuple[str, Any]] = {
    "event": ("adit event (any kind)", AnyEvent),
    "rule": ("adit rule event (cameras)", RuleEvent),
    "machine": ("adit machine event (vibration)", MachineEvent),
    "camera_health": ("adit camera health event", HealthEvent),
    "belt_load": ("adit belt load and speed event", BeltEvent),
    "outbox": ("adit outbox recovery event", OutboxEvent),
    "capacity": ("adit box capacity event", CapacityEvent),
    "inference": ("adit inference failing event (the model failing on a source's frames)", InferenceEvent),
    "drift": ("adit drift event (a camera's frames against the bundle's reference statistics)", DriftEvent),
}

_ADAPTER: TypeAdapter[Any] = TypeAdapter(AnyEvent)


def validate_event(data: dict[str, Any]) -> BaseModel:
    """One JSON-decoded event as its typed model; pydantic's ValidationError if it breaks the contract."""
    return _ADAPTER.validate_python(data, strict=True)


def json_schema(name: str) -> dict[str, Any]:
    """The JSON Schema of ``SCHEMAS[name]``."""
    title, model = SCHEMAS[name]
    return json_schema_of(title, model, name)


def schema_files(extra: dict[str, dict[str, Any]] | None = None) -> dict[str, str]:
    """File name -> text of every published schema (the events, plus ``extra``: the state messages)."""
    documents = {name: json_schema(name) for name in SCHEMAS} | (extra or {})
    return {
        f"{name}.schema.json": json.dumps(doc, indent=2, sort_keys=True) + "\n"
        for name, doc in documents.items()
    }


def drift(folder: Path, files: dict[str, str]) -> list[str]:
    """The schema files in ``folder`` that differ from (or are missing against) the models."""
    return [
        name
        for name, text in files.items()
        if not (folder / name).is_file() or (folder / name).read_text() != text
    ]


def main(argv: list[str] | None = None) -> int:
    from edge_runtime.state import (
        state_schemas,
    )  # the retained state messages are published beside the events

    parser = argparse.ArgumentParser(
        prog="python -m edge_runtime.event_schema", description="Write or check the published event schemas."
    )
    parser.add_argument("folder", type=Path, nargs="?", default=Path("docs/events"))
    parser.add_argument(
        "--write", action="store_true", help="write the files (default: check them, exit 1 on drift)"
    )
    args = parser.parse_args(argv)
    from edge_runtime.fleet.messages import fleet_schemas  # and the fleet's (docs/fleet.md)

    files = schema_files(state_schemas() | fleet_schemas())
    if args.write:
        args.folder.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (args.folder / name).write_text(text)
        print(f"wrote {len(files)} schema(s) to {args.folder}")
        return 0
    stale = drift(args.folder, files)
    if stale:
        print(
            f"{args.folder}: out of date with edge_runtime's models: {', '.join(stale)}; run with --write",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
