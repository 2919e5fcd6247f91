"""Bad vibration files: pickled or cut .npy files, text in a CSV, a 2-D array, an empty file. Each is a
SignalError naming it, never a crash. (NaN samples, another sampling rate and a signal shorter than
one window are checked against the bundle: test_signal_inputs.py.)"""

from __future__ import annotations

import numpy as np
import pytest

from edge_runtime.signal import SignalError
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
        ("objects.npy", np.array([{"a": 1}, None], dtype=object), "not a numeric .npy array"),
        (
            "cut.npy",
            b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (1000,), }",
            "not a numeric .npy array",
        ),
        ("text.csv", "time,value\n0.0,abc\n", "expected one value column or time,value columns"),
        ("two_d.npy", np.zeros((10, 3), np.float32), "expected a 1-D signal"),
        ("empty.csv", "", "no samples"),
    ],
)
def test_a_bad_signal_file_is_a_signal_error_naming_it(tmp_path, name, content, message):
    path = _write(tmp_path / name, content)
    with pytest.raises(SignalError) as error:
        read_samples(path)
    assert name in str(error.value) and message in str(error.value)
