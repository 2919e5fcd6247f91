"""A burst of huge finite values on a live vibration stream: skipped, counted, and the health index recovers.

Before: a few samples of 1e30 overflowed the spectrogram, the window's probabilities were NaN, the
health index's moving average stayed NaN for the rest of the run, ``/status`` answered HTTP 500 and
events carried ``NaN`` (not JSON). Everything here runs through real TCP sockets and the real model.
"""

from __future__ import annotations

import json
import math
import signal
import urllib.request
from pathlib import Path

import numpy as np
import yaml
from daemon_helpers import LogReader, free_port, serve_samples_once, spawn_daemon, wait_until

from edge_runtime.config.machines import MachineConfig
from edge_runtime.config.rules import RuleConfig
from edge_runtime.events import Event
from edge_runtime.jsonsafe import dumps
from edge_runtime.signal_monitor import replay_machine
from train.signal.stream import synthetic_stream

REPO = Path(__file__).parents[2]
BURST_AT, BURST_LEN = 6_000, 40
ALL_LABELS = ["normal", "ball", "inner_race", "outer_race"]


def _strict(text: str):
    """json.loads that refuses NaN and Infinity, as a strict consumer (or a browser's JSON.parse) does."""

    def refuse(constant: str):
        raise ValueError(f"non-finite number {constant} in JSON")

    return json.loads(text, parse_constant=refuse)


def _burst(samples: np.ndarray, value: float = 1e30) -> np.ndarray:
    broken = samples.copy()
    broken[BURST_AT : BURST_AT + BURST_LEN] = value
    return broken


def _replay(bundle: Path, samples: np.ndarray, **settings):
    port = serve_samples_once(samples)
    machine = MachineConfig(
        name="pump-2", source=f"tcp://127.0.0.1:{port}", realtime=False, bundle=bundle, **settings
    )
    rule = RuleConfig(name="any", labels=ALL_LABELS, min_score=0.0)
    return replay_machine(machine, [rule])


def test_a_burst_is_counted_and_skipped_and_the_health_index_recovers(signal_bundle):
    clean = synthetic_stream(seconds_each=1.0)
    reference, _ = _replay(signal_bundle, clean)
    monitor, events = _replay(signal_bundle, _burst(clean), max_abs=100.0)
    window, hop = monitor.spec.window, monitor.spec.hop
    total = (len(clean) - window) // hop + 1
    touched = sum(1 for i in range(total) if i * hop < BURST_AT + BURST_LEN and i * hop + window > BURST_AT)
    assert monitor.out_of_range == touched > 0 and monitor.windows == total - touched
    state = monitor.state()
    assert state["out_of_range_windows"] == touched and math.isfinite(state["health_index"])
    # the index went on from where it was: after the burst it tracks the clean run's index closely
    assert abs(state["health_index"] - reference.state()["health_index"]) < 0.05
    for event in events:
        assert math.isfinite(_strict(event.to_json())["extra"]["health_index"])


def test_the_physical_range_is_the_limit_not_only_overflow(signal_bundle):
    """A value that does not overflow anything (500 g) but no accelerometer of the site measures."""
    monitor, _ = _replay(signal_bundle, _burst(synthetic_stream(seconds_each=1.0), 500.0), max_abs=100.0)
    assert monitor.out_of_range > 0 and monitor.invalid == 0


def test_nothing_adit_serialises_is_non_finite_json():
    event = Event(
        camera="pump",
        type="t",
        label="l",
        score=float("nan"),
        frame=0,
        phase="start",
        rule="r",
        pts_s=float("inf"),
        extra={"health_index": np.float32("nan"), "list": [float("-inf"), 1.5]},
    )
    body = _strict(event.to_json())
    assert body["score"] is None and body["pts_s"] is None
    assert body["extra"] == {"health_index": None, "list": [None, 1.5]}
    assert _strict(dumps({"a": np.float64("inf"), "b": np.int64(3)})) == {"a": None, "b": 3}


def test_the_daemon_keeps_answering_status_and_metrics_through_a_burst(signal_bundle, tmp_path):
    clean = synthetic_stream(seconds_each=1.0)
    port = serve_samples_once(_burst(clean))  # default max_abs (1e6): 1e30 is out of any sensor's range
    http = free_port()
    site = tmp_path / "site.yaml"
    site.write_text(
        yaml.safe_dump(
            {
                "machines": [
                    {"name": "pump-2", "source": f"tcp://127.0.0.1:{port}", "bundle": str(signal_bundle)}
                ],
                "rules": [{"name": "any", "labels": ALL_LABELS, "min_score": 0.0}],
                "sinks": {"jsonl": {"path": str(tmp_path / "events.jsonl")}},
                "outbox": {"path": str(tmp_path / "outbox.sqlite")},
                "http": {"port": http},
            }
        )
    )
    process = spawn_daemon(site, REPO)
    log = LogReader(process)
    try:
        log.wait_for("running 0 camera(s)")

        def status() -> dict:
            with urllib.request.urlopen(f"http://127.0.0.1:{http}/status", timeout=10) as response:
                assert response.status == 200
                return _strict(response.read().decode())

        assert wait_until(lambda: status()["machines"]["pump-2"]["out_of_range_windows"] > 0, 60)
        assert wait_until(lambda: status()["machines"]["pump-2"]["windows"] > 10, 60)
        machine = status()["machines"]["pump-2"]
        assert math.isfinite(machine["health_index"]), machine
        with urllib.request.urlopen(f"http://127.0.0.1:{http}/metrics", timeout=10) as response:
            metrics = response.read().decode()
        assert 'adit_machine_windows_out_of_range_total{machine="pump-2"}' in metrics
        samples = [line for line in metrics.splitlines() if line and not line.startswith("#")]
        assert not [line for line in samples if line.endswith(("NaN", "Inf"))]
        process.send_signal(signal.SIGTERM)
        process.wait(60)
    finally:
        process.kill()
    assert process.returncode == 0, log.rest()
    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    assert lines and all(math.isfinite(_strict(line)["extra"]["health_index"]) for line in lines)
