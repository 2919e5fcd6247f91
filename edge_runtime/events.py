"""Events and the sinks that deliver them.

An event is what the site acts on: a rule's condition started or ended on a camera. Every event
has its own uuid so consumers can drop the duplicates at-least-once delivery may produce. A sink
is anything with ``deliver(event)`` and ``close()`` (registered in ``sinks``; the live daemon feeds
them from the durable ``outbox``). ``compare_events`` checks a run's events against ground truth.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from edge_runtime.errors import ConfigError
from edge_runtime.jsonsafe import dumps

Phase = Literal["start", "update", "end"]  # update: still going, every update_every_s
# the producer; docs/events: one schema each
Kind = Literal["rule", "machine", "camera_health", "belt_load", "outbox", "capacity", "drift", "inference"]
Severity = Literal["info", "warning", "critical"]
SCHEMA_VERSION: Literal[1] = 1  # of the published contract (edge_runtime.event_schema)


@dataclass(frozen=True)
class Event:
    """One rule transition on one camera, as delivered to every sink.

    The wire format is the contract in ``edge_runtime.event_schema`` (and docs/events): ``extra``
    holds the fields of each kind and phase.
    """

    camera: str
    type: str
    label: str
    score: float
    frame: int
    phase: Phase
    rule: str
    pts_s: float
    ts: str = field(default_factory=lambda: utc_iso(datetime.now(UTC).timestamp()))
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    extra: dict[str, Any] = field(default_factory=dict)
    kind: Kind = "rule"
    severity: Severity = "warning"
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> str:
        return dumps(asdict(self), sort_keys=True)  # NaN/inf -> null: always parseable JSON

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> Event:
        return cls.from_dict(json.loads(text))


def health_event(
    camera: str,
    event_type: str,
    label: str,
    phase: Phase,
    extra: dict[str, Any],
    *,
    kind: Kind,
    severity: Severity,
    frame: int = 0,
) -> Event:
    """An event the daemon raises about itself (camera health, capacity, inference): rule ``health``, score 1,
    stamped now (not at a frame's time)."""
    return Event(
        camera=camera,
        type=event_type,
        label=label,
        score=1.0,
        frame=frame,
        phase=phase,
        rule="health",
        pts_s=0.0,
        ts=utc_iso(datetime.now(UTC).timestamp()),
        extra=extra,
        kind=kind,
        severity=severity,
    )


def duration(start_s: float, end_s: float) -> float:
    """``duration_s`` of an end or update event: never negative, even if a clock was reset between them."""
    return round(max(0.0, end_s - start_s), 3)


def utc_iso(timestamp: float) -> str:
    """A wall-clock time as ISO-8601 UTC with milliseconds, e.g. ``2025-01-31T06:00:00.123+00:00``."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")


class DeliveryRefused(Exception):  # noqa: N818 - a refusal, not a program error
    """The receiver refused this event itself (HTTP 400/413/422, a topic it cannot take).

    Unlike an ``OSError`` (the receiver is down, slow or misconfigured: retried until it works),
    retrying the same event cannot help; the outbox moves it to its dead-letter table after
    ``outbox.max_attempts``.
    """


class Sink(Protocol):
    """Where events go. ``deliver`` returns once the receiver has the event, or raises: ``OSError``
    when the receiver or the way to it fails, ``DeliveryRefused`` when it refuses this event."""

    name: str

    def deliver(self, event: Event) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class QueuedSink(Sink, Protocol):
    """A sink that takes events without waiting for them to be durable (the outbox's group commit);
    ``on_durable`` runs, on another thread, once they are."""

    def submit(self, events: Sequence[Event], on_durable: Callable[[], None] | None = None) -> None: ...


class JsonlSink:
    """Appends one JSON object per line, flushed and fsynced, so a power cut loses no written event."""

    name = "jsonl"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.path.open("a", encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"sinks.jsonl.path: cannot open {self.path} for appending ({exc.strerror})"
            ) from exc

    def deliver(self, event: Event) -> None:
        self._handle.write(event.to_json() + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        self._handle.close()


def read_events(path: Path) -> list[Event]:
    """Read a JSONL event file back (replay comparisons, the demo summary)."""
    events = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                events.append(Event.from_dict(json.loads(line)))
            except (json.JSONDecodeError, TypeError) as exc:
                raise ConfigError(f"{path}:{number}: not an event ({exc})") from exc
    return events


@dataclass(frozen=True)
class TruthEvent:
    """A ground-truth interval from ``truth.jsonl`` (written by adit's synthetic video generator)."""

    type: str
    label: str
    start_frame: int
    end_frame: int


def read_truth(path: Path) -> list[TruthEvent]:
    """Read ``truth.jsonl``: one ``{"type", "label", "start_frame", "end_frame"}`` object per line."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: ground-truth file not found")
    truth = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = TruthEvent(**json.loads(line))
        except (json.JSONDecodeError, TypeError) as exc:
            raise ConfigError(
                f"{path}:{number}: expected {{type, label, start_frame, end_frame}} ({exc})"
            ) from exc
        if (
            not (isinstance(item.start_frame, int) and isinstance(item.end_frame, int))
            or item.end_frame < item.start_frame
        ):
            raise ConfigError(f"{path}:{number}: start_frame and end_frame must be integers, start <= end")
        truth.append(item)
    return truth


@dataclass(frozen=True)
class EventMatch:
    """How the ``start`` events of a run line up with the ground truth."""

    matched: list[tuple[TruthEvent, Event]]
    missed: list[TruthEvent]
    false: list[Event]
    tolerance: int

    @property
    def ok(self) -> bool:
        return not self.missed and not self.false

    def table(self) -> str:
        rows = [("result", "type", "label", "truth frames", "event frame", "score")]
        rows += [
            ("matched", t.type, t.label, f"{t.start_frame}-{t.end_frame}", str(e.frame), f"{e.score:.3f}")
            for t, e in self.matched
        ]
        rows += [("missed", t.type, t.label, f"{t.start_frame}-{t.end_frame}", "-", "-") for t in self.missed]
        rows += [("false", e.type, e.label, "-", str(e.frame), f"{e.score:.3f}") for e in self.false]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = [
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in rows
        ]
        lines.append(
            f"{len(self.matched)} matched, {len(self.missed)} missed, {len(self.false)} false "
            f"(tolerance {self.tolerance} frames)"
        )
        return "\n".join(lines)


def compare_events(events: Sequence[Event], truth: Sequence[TruthEvent], tolerance: int) -> EventMatch:
    """Match ``start`` events to truth intervals: same label, frame within ``tolerance`` of the interval.

    The window reaches before ``start_frame`` too: the truth counts an object from the frame it is
    mostly in view, while a model may rightly fire a few frames earlier on a partial view.

    Each interval takes at most one event (the earliest); a second start inside an interval that is
    already matched is a false event, as it would be a second alarm for one incident on site.
    """
    ordered = sorted(enumerate(truth), key=lambda item: (item[1].start_frame, item[1].end_frame))
    taken: dict[int, Event] = {}
    false = []
    for event in sorted((e for e in events if e.phase == "start"), key=lambda e: e.frame):
        index = next(
            (
                i
                for i, t in ordered
                if i not in taken
                and t.label == event.label
                and t.start_frame - tolerance <= event.frame <= t.end_frame + tolerance
            ),
            None,
        )
        if index is None:
            false.append(event)
        else:
            taken[index] = event
    return EventMatch(
        matched=[(truth[i], taken[i]) for i, _ in ordered if i in taken],
        missed=[t for i, t in ordered if i not in taken],
        false=false,
        tolerance=tolerance,
    )
