"""A damaged outbox never keeps the site down: moved aside (never deleted), readable rows salvaged,
a fresh outbox, an event saying so; exit 2 only when nothing can be written. Real SQLite files.

Before (issue 15): a corrupt page, a row with an unknown field (after a downgrade) or a cut-off
JSON row meant a traceback and exit 1 at every start until someone deleted the file.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

import yaml
from daemon_helpers import spawn_daemon

from edge_runtime.config.sinks import OutboxConfig
from edge_runtime.events import Event, read_events
from edge_runtime.outbox import Outbox

REPO = Path(__file__).parents[2]


def _event(frame: int) -> Event:
    return Event(
        camera="belt", type="t", label="red", score=0.9, frame=frame, phase="start", rule="r", pts_s=0.0
    )


class _Recorder:
    name = "jsonl"

    def __init__(self) -> None:
        self.got: list[Event] = []

    def deliver(self, event: Event) -> None:
        self.got.append(event)

    def close(self) -> None:
        pass


class _Down(_Recorder):
    def deliver(self, event: Event) -> None:
        raise OSError("down")


def _filled_outbox(path: Path, count: int) -> list[Event]:
    """An outbox left with ``count`` undelivered events by a run whose sink was down."""
    outbox = Outbox(OutboxConfig(path=path, drain_timeout_s=0.0), [_Down()])
    events = [_event(i) for i in range(count)]
    for event in events:
        outbox.deliver(event)
    outbox.close()
    return events


def _reopen(path: Path) -> tuple[Outbox, _Recorder]:
    sink = _Recorder()
    return Outbox(OutboxConfig(path=path, retry_min_s=0.05, retry_max_s=0.2), [sink]), sink


def _drained(outbox: Outbox, sink: _Recorder) -> list[Event]:
    outbox.close()
    return sink.got


def _aside(path: Path) -> Path:
    [moved] = [p for p in path.parent.glob(f"{path.name}.damaged-*") if not p.name.endswith(("-wal", "-shm"))]
    return moved


def test_a_corrupt_page_loses_only_its_rows(tmp_path):
    path = tmp_path / "outbox.sqlite"
    events = _filled_outbox(path, 300)
    with closing(sqlite3.connect(path)) as db:
        leaves = [
            n for (n,) in db.execute("SELECT pageno FROM dbstat WHERE name = 'events' AND pagetype = 'leaf'")
        ]
        size = db.execute("PRAGMA page_size").fetchone()[0]
    page = leaves[len(leaves) // 2]
    damaged = bytearray(path.read_bytes())
    damaged[(page - 1) * size : page * size] = b"\xab" * size  # a torn write: one page of garbage
    path.write_bytes(bytes(damaged))
    outbox, sink = _reopen(path)
    recovery = outbox.recovery
    got = _drained(outbox, sink)
    assert recovery is not None and ("malformed" in recovery.reason or "integrity" in recovery.reason)
    assert _aside(path) == recovery.moved_to and recovery.moved_to.read_bytes() == bytes(
        damaged
    )  # kept as found
    salvaged = [e.id for e in got if e.type == "t"]
    assert 300 - 3 * (size // 300) <= len(salvaged) < 300  # only about one page of rows is gone
    original = [e.id for e in events]
    assert salvaged == [i for i in original if i in set(salvaged)]  # in their order
    notice = [e for e in got if e.type == "outbox_damaged"]
    assert [e.phase for e in notice] == ["start", "end"] and notice[0].extra["salvaged"] == len(salvaged)
    assert notice[0].extra["moved_to"] == str(recovery.moved_to) and notice[1].extra["duration_s"] == 0.0


def test_unreadable_rows_become_dead_letters_and_the_rest_is_delivered(tmp_path):
    path = tmp_path / "outbox.sqlite"
    events = _filled_outbox(path, 5)
    newer = json.loads(events[1].to_json()) | {"escalation": "high"}  # a field from a newer version
    with closing(sqlite3.connect(path)) as db:
        db.execute("UPDATE events SET body = ? WHERE id = ?", (json.dumps(newer), events[1].id))
        db.execute(
            "UPDATE events SET body = ? WHERE id = ?", (events[3].to_json()[:40], events[3].id)
        )  # cut off
        db.commit()
    outbox, sink = _reopen(path)
    letters = outbox.dead_letters()
    got = _drained(outbox, sink)
    assert [e.id for e in got if e.type == "t"] == [events[0].id, events[2].id, events[4].id]
    assert {(d["sink"], d["id"]) for d in letters} == {("*", events[1].id), ("*", events[3].id)}
    assert any("escalation" in d["error"] for d in letters) and any(
        "JSONDecodeError" in d["error"] for d in letters
    )
    with closing(sqlite3.connect(_aside(path))) as db:  # the original rows are still in the moved file
        assert db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 5


def test_a_file_that_is_no_database_at_all(tmp_path):
    path = tmp_path / "outbox.sqlite"
    path.write_bytes(b"this was a log file, copied over the outbox by mistake\n" * 100)
    outbox, sink = _reopen(path)
    got = _drained(outbox, sink)
    assert [e.type for e in got] == ["outbox_damaged", "outbox_damaged"]
    assert got[0].extra["salvaged"] == 0 and _aside(path).read_bytes().startswith(b"this was a log file")


def _site(tmp_path: Path, bundle: Path, video: Path, outbox: Path) -> Path:
    site = tmp_path / "site.yaml"
    site.write_text(
        yaml.safe_dump(
            {
                "model": {"bundle": str(bundle)},
                "cameras": [
                    {"name": "cam1", "source": str(video), "realtime": True, "health": {"enabled": False}}
                ],
                "rules": [
                    {"name": "red-rule", "labels": ["red"], "min_score": 0.6, "event_type": "red_seen"}
                ],
                "sinks": {"jsonl": {"path": str(tmp_path / "events.jsonl")}},
                "outbox": {"path": str(outbox)},
                "http": {"enabled": False},
            }
        )
    )
    return site


def test_the_daemon_starts_on_a_damaged_outbox_and_says_so(tmp_path, tiny_bundle, colour_video):
    outbox = tmp_path / "state" / "outbox.sqlite"
    events = _filled_outbox(outbox, 3)
    with closing(sqlite3.connect(outbox)) as db:
        db.execute('UPDATE events SET body = \'{"camera": "belt", "ty\' WHERE id = ?', (events[0].id,))
        db.commit()
    process = spawn_daemon(_site(tmp_path, tiny_bundle, colour_video.path, outbox), REPO)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    delivered = read_events(tmp_path / "events.jsonl")
    assert [e.id for e in delivered[:2]] == [events[1].id, events[2].id]  # salvaged first, in order
    assert [e.type for e in delivered].count("outbox_damaged") == 2 and "red_seen" in {
        e.type for e in delivered
    }
    assert "moving it aside" in err and "Traceback" not in err and _aside(outbox).exists()


def test_exit_2_only_when_nothing_can_be_written(tmp_path, tiny_bundle, colour_video, small_volume):
    outbox = small_volume.path / "outbox.sqlite"
    outbox.write_bytes(b"\x00garbage" * 64)
    subprocess.run(["mount", "-o", "remount,ro", str(small_volume.path)], check=True)
    try:
        process = spawn_daemon(_site(tmp_path, tiny_bundle, colour_video.path, outbox), REPO)
        _, err = process.communicate(timeout=120)
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_volume.path)], check=True)
    assert process.returncode == 2 and err.startswith("error: outbox.path:") and "Traceback" not in err
    assert outbox.read_bytes() == b"\x00garbage" * 64  # untouched
