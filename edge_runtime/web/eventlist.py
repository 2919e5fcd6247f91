"""The events page's list: the outbox's newest events, filtered, each with where it has been delivered.

An event is in the outbox until every sink has it; per sink it is delivered once that sink's
cursor has passed its sequence number, unless the sink refused it and it went to the dead letters.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from edge_runtime.events import Event
from edge_runtime.outbox import RECENT_EVENTS, Outbox
from edge_runtime.outbox_store import EVERY_SINK


@dataclass(frozen=True)
class EventFilter:
    camera: str | None = None
    type: str | None = None
    label: str | None = None
    since: str | None = (
        None  # ISO 8601 UTC; events carry ``ts`` in the same form, so text order is time order
    )
    until: str | None = None
    limit: int = 200

    def matches(self, event: Event) -> bool:
        return (
            (self.camera is None or event.camera == self.camera)
            and (self.type is None or event.type == self.type)
            and (self.label is None or event.label == self.label)
            and (self.since is None or event.ts >= self.since)
            and (self.until is None or event.ts <= self.until)
        )


def list_events(outbox: Outbox, wanted: EventFilter) -> dict[str, Any]:
    recent = outbox.recent_events()
    cursors = outbox.cursors()
    dead = {(letter["sink"], letter["seq"]) for letter in outbox.dead_letters(RECENT_EVENTS)}
    rows = []
    for seq, event in reversed(recent):  # newest first
        if not wanted.matches(event):
            continue
        refused = [sink for sink in cursors if (sink, seq) in dead or (EVERY_SINK, seq) in dead]
        delivered = {sink: seq <= cursor and sink not in refused for sink, cursor in cursors.items()}
        rows.append(
            {
                **asdict(event),
                "delivered": delivered,
                "dead_letter": refused,
                "in_outbox": any(seq > cursor for cursor in cursors.values()),  # a sink still waits for it
            }
        )
        if len(rows) >= wanted.limit:
            break
    return {
        "events": rows,
        "choices": {
            "camera": sorted({event.camera for _, event in recent}),
            "type": sorted({event.type for _, event in recent}),
            "label": sorted({event.label for _, event in recent}),
        },
    }
