"""Bad vibration input: NaN/inf samples, pickled or cut .npy files, text in a CSV, a signal shorter
than one window, a sensor at another sampling rate. Each is a SignalError naming it, never a crash."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from edge_runtime.signal import SignalError
from edge_runtime.signal_monitor import SignalMonitor, SignalSiteConfig
from edge_runtime.signal_monitor import main as monitor_main
from edge_runtime.signal_source import read_samples


def _write(path, content):
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content)
    else:
        np.save(path, content, allow_pickle=True)
    return path


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("nan.npy", np.array([0.1, np.nan, 0.2, np.inf], np.float32), "2 of 4 samples are NaN or infinite (first at sample 1)"),
        ("nan.csv", "0.1\n0.2\nnan\n", "1 of 3 samples are NaN"),
        ("objects.npy", np.array([{"a": 1}, None], dtype=object), "not a numeric .npy array"),
        ("cut.npy", b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (1000,), }", "not a numeric .npy array"),
        ("text.csv", "time,value\n0.0,abc\n", "expected one numeric column"),
        ("two_d.npy", np.zeros((10, 3), np.float32), "expected a 1-D signal"),
        ("empty.csv", "", "expected one numeric column"),
    ],
)
def test_a_bad_signal_file_is_a_signal_error_naming_it(tmp_path, name, content, message):
    path = _write(tmp_path / name, content)
    with pytest.raises(SignalError) as error:
        read_samples(path)
    assert name in str(error.value) and message in str(error.value)


def test_a_signal_shorter_than_one_window_exits_2_saying_so(signal_bundle, tmp_path, capsys):
    np.save(tmp_path / "short.npy", np.zeros(10, np.float32))
    config = tmp_path / "site.yaml"
    config.write_text(yaml.safe_dump({"source": str(tmp_path / "short.npy"), "realtime": False, "bundle": str(signal_bundle),
                                      "sinks": {"jsonl": {"path": str(tmp_path / "e.jsonl")}}}))
    assert monitor_main(["--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "short.npy: shorter than one window" in err and "Traceback" not in err


def test_a_sensor_at_another_sampling_rate_is_refused(signal_bundle, tmp_path):
    config = SignalSiteConfig(source=str(tmp_path / "x.npy"), bundle=signal_bundle, sampling_rate=8000.0)
    with pytest.raises(SignalError, match="sensor gives 8000 Hz but .* was trained at"):
        SignalMonitor(config, sinks=[])
