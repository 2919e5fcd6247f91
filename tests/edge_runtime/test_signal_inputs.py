"""Bad vibration input stops with an error naming the file, before anything is sent or overwritten."""

import numpy as np
import pytest
import yaml
from daemon_helpers import serve_samples_once

from edge_runtime.cli import main
from edge_runtime.config.machines import MachineConfig
from edge_runtime.config.rules import RuleConfig
from edge_runtime.signal import SignalError
from edge_runtime.signal_monitor import replay_machine, verify_machine
from train.signal.stream import synthetic_stream

RATE = 12_000.0


def _machine(bundle, source, **settings) -> MachineConfig:
    return MachineConfig(name="pump-2", source=str(source), realtime=False, bundle=bundle, **settings)


def _with_nan(samples: np.ndarray, start: int, length: int) -> np.ndarray:
    broken = samples.copy()
    broken[start : start + length] = np.nan
    return broken


def test_nan_samples_are_refused_naming_file_and_position(signal_bundle, tmp_path):
    path = tmp_path / "dropout.npy"
    np.save(path, _with_nan(synthetic_stream(seconds_each=0.5), 6000, 10))
    with pytest.raises(
        SignalError,
        match=r"dropout.npy: 10 of 12000 samples are NaN or infinite \(the first at sample 6000, 0.500 s\)",
    ):
        verify_machine(_machine(signal_bundle, path), 0)


def test_a_csv_at_another_rate_is_refused(signal_bundle, tmp_path):
    samples = synthetic_stream(seconds_each=0.5)
    path = tmp_path / "at10k.csv"
    times = np.arange(len(samples)) / 10_000.0
    np.savetxt(path, np.stack([times, samples], 1), delimiter=",", header="time_s,accel_g", comments="")
    with pytest.raises(
        SignalError, match="at10k.csv: sampled at 10000 Hz, but the bundle was trained at 12000 Hz"
    ):
        verify_machine(_machine(signal_bundle, path), 0)
    ok = tmp_path / "at12k.csv"
    np.savetxt(ok, np.stack([np.arange(len(samples)) / RATE, samples], 1), delimiter=",")
    verify_machine(_machine(signal_bundle, ok), 0)


def test_a_stream_declared_at_another_rate_is_refused(signal_bundle):
    with pytest.raises(
        SignalError, match=r"machines\[0\] \(pump-2\).source tcp://127.0.0.1:9: sampled at 25600 Hz"
    ):
        verify_machine(_machine(signal_bundle, "tcp://127.0.0.1:9", sampling_rate=25_600), 0)


def test_a_file_shorter_than_one_window_is_refused(signal_bundle, tmp_path):
    path = tmp_path / "short.npy"
    np.save(path, synthetic_stream(seconds_each=0.5)[:500])
    with pytest.raises(
        SignalError, match=r"short.npy: 500 samples \(0.042 s\) is shorter than one window of 1024"
    ):
        verify_machine(_machine(signal_bundle, path), 0)


def test_the_daemon_refuses_a_bad_file_at_start_and_keeps_earlier_events(signal_bundle, tmp_path, capsys):
    path = tmp_path / "dropout.npy"
    np.save(path, _with_nan(synthetic_stream(seconds_each=0.5), 100, 1))
    events = tmp_path / "events.jsonl"
    events.write_text('{"earlier": "event"}\n')
    site = tmp_path / "site.yaml"
    site.write_text(
        yaml.safe_dump(
            {
                "machines": [{"name": "pump-2", "source": str(path), "bundle": str(signal_bundle)}],
                "sinks": {"jsonl": {"path": str(events)}},
                "outbox": {"path": str(tmp_path / "outbox.sqlite")},
                "http": {"enabled": False},
            }
        )
    )
    assert main(["run", "--config", str(site)]) == 2
    assert f"{path}: 1 of 12000 samples are NaN" in capsys.readouterr().err
    assert events.read_text() == '{"earlier": "event"}\n' and not (tmp_path / "outbox.sqlite").exists()


def test_a_stream_dropout_skips_only_its_windows(signal_bundle):
    samples = _with_nan(synthetic_stream(seconds_each=1.0), 12_000, 100)
    port = serve_samples_once(samples)
    rule = RuleConfig(name="any", labels=["normal", "ball", "inner_race", "outer_race"], min_score=0.0)
    monitor, events = replay_machine(_machine(signal_bundle, f"tcp://127.0.0.1:{port}"), [rule])
    window, hop = monitor.spec.window, monitor.spec.hop
    total = (len(samples) - window) // hop + 1
    touched = sum(1 for i in range(total) if i * hop < 12_100 and i * hop + window > 12_000)
    assert monitor.invalid == touched > 0 and monitor.windows == total - touched
    assert events and monitor.state()["invalid_windows"] == touched
