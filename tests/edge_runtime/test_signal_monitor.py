"""Monitoring a machine: file replay and a TCP stream give the same windows, events and health."""

import json
import socket
import threading

import numpy as np
import pytest

from edge_runtime.config import RuleConfig, SinksConfig
from edge_runtime.events import read_events
from edge_runtime.signal import SignalError
from edge_runtime.signal_monitor import SignalMonitor, SignalSiteConfig, open_source
from edge_runtime.signal_source import read_samples, replay_file
from train.signal.stream import synthetic_stream


@pytest.fixture
def stream_file(tmp_path):
    path = tmp_path / "stream.npy"
    np.save(path, synthetic_stream(seconds_each=1.0))
    return path


def _config(bundle, source, tmp_path, name):
    return SignalSiteConfig(
        machine="fan-3", source=str(source), realtime=False, bundle=bundle,
        rules=[RuleConfig(name="any-class", labels=["normal", "ball", "inner_race", "outer_race"], min_score=0.0)],
        sinks=SinksConfig(jsonl={"path": tmp_path / f"{name}.jsonl"}), health_log=tmp_path / f"{name}-health.jsonl",
    )


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


def test_file_and_tcp_give_the_same_readings_and_events(signal_bundle, stream_file, tmp_path):
    from_file = SignalMonitor(_config(signal_bundle, stream_file, tmp_path, "file"))
    file_events = from_file.run(open_source(from_file.config, from_file.spec.sampling_rate))
    port = _serve(read_samples(stream_file))
    from_tcp = SignalMonitor(_config(signal_bundle, f"tcp://127.0.0.1:{port}", tmp_path, "tcp"))
    from_tcp.run(open_source(from_tcp.config, from_tcp.spec.sampling_rate))

    spec = from_file.spec
    expected_windows = (len(read_samples(stream_file)) - spec.window) // spec.hop + 1
    assert len(from_file.readings) == len(from_tcp.readings) == expected_windows
    assert [r.label for r in from_file.readings] == [r.label for r in from_tcp.readings]
    assert from_file.readings[0].pts_s == pytest.approx(spec.window / spec.sampling_rate, abs=1e-6)
    delivered = read_events(tmp_path / "file.jsonl")
    assert [e.phase for e in delivered][:1] == ["start"] and delivered[-1].phase == "end"
    assert all(e.camera == "fan-3" and "health_index" in e.extra for e in delivered)
    assert len(delivered) == len(file_events)
    health = [json.loads(line) for line in (tmp_path / "file-health.jsonl").read_text().splitlines()]
    assert len(health) == expected_windows and all(0.0 <= h["index"] <= 1.0 for h in health)


def test_realtime_replay_paces_at_the_sampling_rate(stream_file):
    chunks = list(replay_file(stream_file, sampling_rate=12000, chunk=1200, realtime=False))
    assert [c.t0_s for c in chunks[:3]] == [0.0, 0.1, 0.2]


def test_monitor_refuses_unknown_normal_label(signal_bundle, stream_file, tmp_path):
    config = _config(signal_bundle, stream_file, tmp_path, "x").model_copy(
        update={"health": {"normal_label": "healthy"}}
    )
    with pytest.raises(SignalError, match="healthy"):
        SignalMonitor(SignalSiteConfig.model_validate(config.model_dump()))
