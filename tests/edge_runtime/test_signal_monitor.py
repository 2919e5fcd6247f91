"""Monitoring a machine: file replay and a TCP stream give the same windows, events and health."""

import json
import socket
import threading

import numpy as np
import pytest

from edge_runtime.config import SiteConfig
from edge_runtime.config.machines import MachineConfig
from edge_runtime.config.rules import RuleConfig
from edge_runtime.events import JsonlSink, read_events
from edge_runtime.signal import SignalError
from edge_runtime.signal_monitor import main, replay_machine, verify_machine
from edge_runtime.signal_source import read_samples, replay_file
from train.signal.stream import synthetic_stream

ANY_CLASS = RuleConfig(name="any-class", labels=["normal", "ball", "inner_race", "outer_race"], min_score=0.0)


@pytest.fixture
def stream_file(tmp_path):
    path = tmp_path / "stream.npy"
    np.save(path, synthetic_stream(seconds_each=1.0))
    return path


def _machine(bundle, source, **settings) -> MachineConfig:
    return MachineConfig(name="fan-3", source=str(source), realtime=False, bundle=bundle, **settings)


def _serve(samples: np.ndarray) -> int:
    server = socket.create_server(("127.0.0.1", 0))

    def send() -> None:
        conn, _ = server.accept()
        with conn:
            payload = samples.astype("<f4").tobytes()
            for start in range(0, len(payload), 1001):  # odd packet sizes split samples across reads
                conn.sendall(payload[start : start + 1001])
        server.close()

    threading.Thread(target=send, daemon=True).start()
    return server.getsockname()[1]


def _replay(machine, rules=(ANY_CLASS,), sinks=()):
    readings = []
    monitor, events = replay_machine(machine, rules, sinks, observe=readings.append)
    return monitor, events, readings


def test_file_and_tcp_give_the_same_readings_and_events(signal_bundle, stream_file, tmp_path):
    sink = JsonlSink(tmp_path / "file.jsonl")
    from_file, file_events, file_readings = _replay(_machine(signal_bundle, stream_file), sinks=[sink])
    sink.close()
    port = _serve(read_samples(stream_file)[0])
    from_tcp, _, tcp_readings = _replay(_machine(signal_bundle, f"tcp://127.0.0.1:{port}"))

    spec = from_file.spec
    expected_windows = (len(read_samples(stream_file)[0]) - spec.window) // spec.hop + 1
    assert from_file.windows == from_tcp.windows == len(file_readings) == expected_windows
    assert [r.label for r in file_readings] == [r.label for r in tcp_readings]
    assert file_readings[0].pts_s == pytest.approx(spec.window / spec.sampling_rate, abs=1e-6)
    delivered = read_events(tmp_path / "file.jsonl")
    assert [e.phase for e in delivered][:1] == ["start"] and delivered[-1].phase == "end"
    assert all(e.camera == "fan-3" and "health_index" in e.extra for e in delivered)
    assert len(delivered) == len(file_events) == from_file.events
    assert all(0.0 <= r.index <= 1.0 for r in file_readings)


def test_health_index_rises_over_the_fault_stretch(signal_bundle, stream_file):
    _, _, readings = _replay(_machine(signal_bundle, stream_file))
    normal = [r.index for r in readings if r.pts_s <= 1.0]  # the first second is healthy running
    assert normal[-1] < normal[0] < readings[-1].index and readings[-1].trend_per_h > 0


def test_realtime_replay_paces_at_the_sampling_rate(signal_bundle, stream_file):
    from edge_runtime.bundle import load_bundle

    spec = load_bundle(signal_bundle).manifest.signal
    chunks = list(
        replay_file(stream_file, spec.model_copy(update={"sampling_rate": 12000}), chunk=1200, realtime=False)
    )
    assert [c.t0_s for c in chunks[:3]] == [0.0, 0.1, 0.2]


def test_monitor_refuses_unknown_normal_label(signal_bundle, stream_file):
    with pytest.raises(SignalError, match="machines\\[0\\] \\(fan-3\\).health.normal_label: 'healthy'"):
        verify_machine(_machine(signal_bundle, stream_file, health={"normal_label": "healthy"}), 0)


def test_replay_cli_writes_events_and_a_health_log(signal_bundle, stream_file, tmp_path, capsys):
    site = tmp_path / "site.yaml"
    config = SiteConfig(machines=[_machine(signal_bundle, stream_file)], rules=[ANY_CLASS])
    site.write_text(json.dumps(config.model_dump(mode="json")))
    out, log = tmp_path / "events.jsonl", tmp_path / "health.jsonl"
    assert main(["--config", str(site), "--out", str(out), "--health-log", str(log)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["fan-3"]["windows"] == len(log.read_text().splitlines()) > 0
    assert len(read_events(out)) == summary["fan-3"]["events"] > 0
