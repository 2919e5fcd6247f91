"""The events page's lists: the outbox's newest events, filtered, each with where it has been delivered.

``list_events`` gives every event as sent; ``list_incidents`` gives one row per incident (a start with
its updates and end, or a lone event such as a belt-speed update) with its duration and whether the
control room has acknowledged it. An event is in the outbox until every sink has it; per sink it is
delivered once that sink's cursor has passed its sequence number, unless the sink refused it and it
went to the dead letters.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from edge_runtime.events import Event
from edge_runtime.outbox import RECENT_EVENTS, Outbox
from edge_runtime.outbox_store import EVERY_SINK
from edge_runtime.web.acks import AckStore

_SEVERITY_RANK = ["info", "warning", "critical"]


@dataclass(frozen=True)
class EventFilter:
    camera: str | None = None
    type: str | None = None
    label: str | None = None
    severity: str | None = None
    since: str | None = (
        None  # ISO 8601 UTC; events carry ``ts`` in the same form, so text order is time order
    )
    until: str | None = None
    limit: int = 200

    def matches(self, event: Event, ts: str | None = None) -> bool:
        """``ts``: the time to compare (an incident's start) instead of the event's own."""
        ts = ts or event.ts
        return (
            (self.camera is None or event.camera == self.camera)
            and (self.type is None or event.type == self.type)
            and (self.label is None or event.label == self.label)
            and (self.severity is None or event.severity == self.severity)
            and (self.since is None or ts >= self.since)
            and (self.until is None or ts <= self.until)
        )


def _choices(recent: list[tuple[int, Event]]) -> dict[str, list[str]]:
    return {
        "camera": sorted({event.camera for _, event in recent}),
        "type": sorted({event.type for _, event in recent}),
        "label": sorted({event.label for _, event in recent}),
        "severity": sorted({event.severity for _, event in recent}),
    }


def list_events(outbox: Outbox, wanted: EventFilter) -> dict[str, Any]:
    recent = outbox.recent_events()
    cursors = outbox.cursors()
    dead = _dead_letters(outbox)
    rows = []
    for seq, event in reversed(recent):  # newest first
        if not wanted.matches(event):
            continue
        refused = _refused(dead, cursors, seq)
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
    return {"events": rows, "choices": _choices(recent)}


def _dead_letters(outbox: Outbox) -> set[tuple[str, int]]:
    return {(letter["sink"], letter["seq"]) for letter in outbox.dead_letters(RECENT_EVENTS)}


def _refused(dead: set[tuple[str, int]], cursors: dict[str, int], seq: int) -> list[str]:
    """The sinks that gave up on event ``seq`` (it went to their dead letters)."""
    return [sink for sink in cursors if (sink, seq) in dead or (EVERY_SINK, seq) in dead]


def list_incidents(outbox: Outbox, wanted: EventFilter, acks: AckStore) -> dict[str, Any]:
    """One row per incident, newest start first; an open one has ``duration_s`` None and ``status`` open."""
    recent = outbox.recent_events()
    cursors = outbox.cursors()
    dead = _dead_letters(outbox)
    groups: dict[str, list[tuple[int, Event]]] = {}
    for seq, event in recent:  # oldest first: a group's first event is its start when still held
        groups.setdefault(event.extra.get("start_id", event.id), []).append((seq, event))
    rows = []
    for key, members in groups.items():
        first = members[0][1]
        if wanted.matches(first):
            rows.append(_incident(key, members, cursors, dead) | {"_first": first.ts})
    rows.sort(key=lambda row: row.pop("_first"), reverse=True)
    rows = rows[: wanted.limit]
    found = acks.lookup([row["id"] for row in rows])
    feedback = acks.feedback([row["id"] for row in rows])
    for row in rows:
        row["ack"] = found[row["id"]].to_dict() if row["id"] in found else None
        row["feedback"] = feedback[row["id"]].to_dict() if row["id"] in feedback else None
    return {"incidents": rows, "choices": _choices(recent)}


def _incident(
    key: str, members: list[tuple[int, Event]], cursors: dict[str, int], dead: set[tuple[str, int]]
) -> dict[str, Any]:
    events = [event for _, event in members]
    first, last = events[0], events[-1]
    start = first if first.phase == "start" else None
    if last.phase == "end":
        status = "ended"
    elif start is None and "start_id" not in last.extra:
        status = "instant"  # an event with no start of its own (a belt-speed update)
    else:
        status = "open"
    durations = [event.extra["duration_s"] for event in events if "duration_s" in event.extra]
    refused = sorted({sink for seq, _ in members for sink in _refused(dead, cursors, seq)})
    delivered = {
        sink: sink not in refused and all(seq <= cursor for seq, _ in members)
        for sink, cursor in cursors.items()
    }
    return {
        "id": key,
        "camera": first.camera,
        "kind": first.kind,
        "type": first.type,
        "label": first.label,
        "severity": max((event.severity for event in events), key=_SEVERITY_RANK.index),
        "status": status,
        "start_ts": first.ts,  # the start's, or the oldest event still held
        "end_ts": last.ts if status == "ended" else None,
        "duration_s": durations[-1] if durations and status != "open" else None,
        "last_duration_s": durations[-1] if durations else None,  # an open incident's last update
        "score": max(event.score for event in events),
        "snapshot": start.extra.get("snapshot") if start is not None else None,
        "reason": last.extra.get("reason"),
        "events": len(events),
        "delivered": delivered,
        "dead_letter": refused,
        "in_outbox": any(seq > cursor for seq, _ in members for cursor in cursors.values()),
    }
