"""Events serialise to one JSON line each, fsynced; stage timers give percentiles in milliseconds."""

from __future__ import annotations

import json
import re

import pytest

from edge_runtime.config.sinks import SinksConfig
from edge_runtime.errors import ConfigError
from edge_runtime.events import Event, JsonlSink, read_events
from edge_runtime.sinks import build_sinks
from edge_runtime.timing import STAGES, StageTimers


def _event(**changes) -> Event:
    fields = {
        "camera": "belt",
        "type": "foreign_object",
        "label": "foreign_object",
        "score": 0.93,
        "frame": 120,
        "phase": "start",
        "rule": "fo",
        "pts_s": 12.0,
    }
    return Event(**(fields | changes))


def test_event_has_uuid_hex_id_and_utc_iso_time():
    first, second = _event(), _event()
    assert re.fullmatch(r"[0-9a-f]{32}", first.id) and first.id != second.id
    assert first.ts.endswith("+00:00") and "T" in first.ts


def test_jsonl_sink_appends_one_object_per_line(tmp_path):
    path = tmp_path / "deep" / "events.jsonl"
    sink = JsonlSink(path)
    end = {"start_id": "a" * 32, "duration_s": 1.5, "reason": "absent"}
    events = [_event(), _event(phase="end", extra=end)]
    for event in events:
        sink.deliver(event)
    sink.close()
    sink = JsonlSink(path)  # a restart appends, never truncates
    sink.deliver(_event())
    sink.close()
    lines = path.read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[1])["extra"] == end
    assert read_events(path)[:2] == events


def test_unwritable_sink_path_is_a_config_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match=r"sinks\.jsonl\.path"):
        build_sinks(SinksConfig.model_validate({"jsonl": {"path": str(blocker / "events.jsonl")}}))
    assert build_sinks(SinksConfig(jsonl=None)) == []


def test_percentiles_of_known_samples():
    timers = StageTimers()
    for value in range(1, 101):
        timers.record("infer", float(value))
    stats = timers.stats("infer")
    assert (stats.count, stats.p50_ms, stats.p90_ms, stats.max_ms) == (100, 50.5, 90.1, 100.0)
    assert stats.p99_ms == pytest.approx(99.01)
    assert list(timers.summary()) == ["infer"] and timers.stats("decode") is None


def test_window_bounds_memory_but_count_and_total_cover_all():
    timers = StageTimers(window=10)
    for value in range(100):
        timers.record("rules", float(value))
    stats = timers.stats("rules")
    assert (stats.count, stats.total_ms, stats.p50_ms) == (100, 4950.0, 94.5)


def test_measure_times_a_block_by_the_injected_clock_and_unknown_stages_are_refused():
    now = [100.0]
    timers = StageTimers(clock=lambda: now[0])
    with timers.measure("decode"):
        now[0] += 0.0125  # the block "takes" 12.5 ms: no wall-clock sleep, no load-dependent figure
    stats = timers.stats("decode")
    assert (stats.count, stats.p50_ms, stats.min_ms) == (1, 12.5, 12.5) and STAGES[0] == "decode"
    with pytest.raises(ValueError, match="preprocess"):
        timers.record("decoding", 1.0)
