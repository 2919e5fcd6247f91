"""Shaft-speed normalised spectra: the one preprocessing of training and device, with the rpm as input."""

import numpy as np
import pytest
from scipy.signal import hilbert

from edge_runtime.signal import SignalError, SignalSpec, features, prepare_windows, with_rpm
from edge_runtime.signal_orders import analytic_envelope
from train.signal.split import split_windows
from train.signal.synth import SynthSettings, synthetic_recordings

HALVES = (0.5, 0.0, 0.5)
SPEC = dict(sampling_rate=12_000.0, window=2048, hop=512, bins=512)


def test_envelope_is_the_hilbert_transform_magnitude():
    x = np.random.default_rng(0).standard_normal((3, 2048))
    odd = x[:, :2047]
    assert np.allclose(analytic_envelope(x), np.abs(hilbert(x, axis=1)), atol=1e-9)
    assert np.allclose(analytic_envelope(odd), np.abs(hilbert(odd, axis=1)), atol=1e-9)


def _cross_speed_accuracy(representation: str) -> float:
    """Nearest class centroid learned at 1500 rpm, tested at 1800 rpm (and the reverse): no model,
    so the figure is the feature's own invariance to speed."""
    speeds = {0: 1500.0, 1: 1800.0}
    recordings = synthetic_recordings((0, 1), seed=3, settings=SynthSettings(seconds=2.0), rpm_by_load=speeds)
    classes = sorted({r.label for r in recordings})
    spec = SignalSpec(representation=representation, orders=(0.5, 30.0), **SPEC)
    hits = []
    for source, target in ((0, 1), (1, 0)):
        train, test = (
            split_windows([r for r in recordings if r.load == load], classes, 2048, 512, HALVES)[part]
            for load, part in ((source, "train"), (target, "test"))
        )
        a = features(train.x, spec, train.rpm).reshape(len(train), -1)
        b = features(test.x, spec, test.rpm).reshape(len(test), -1)
        centroids = np.stack([a[train.y == c].mean(axis=0) for c in range(len(classes))])
        predicted = ((b[:, None] - centroids[None]) ** 2).sum(axis=-1).argmin(axis=1)
        hits.extend(predicted == test.y)
    return float(np.mean(hits))


def test_speed_normalisation_is_what_carries_a_fault_to_another_speed():
    assert _cross_speed_accuracy("envelope_spectrum") >= 0.95
    assert _cross_speed_accuracy("spectrum_envelope") >= 0.95
    assert _cross_speed_accuracy("spectrum") < 0.85  # in hertz every defect line moved by 20 %


def test_order_windows_take_the_rpm_as_one_more_value():
    spec = SignalSpec(representation="spectrum_envelope", orders=(0.5, 30.0), **SPEC)
    windows = np.random.default_rng(1).standard_normal((2, 2048)).astype(np.float32)
    with pytest.raises(SignalError, match=r"\(N, 2049\) \(the samples, then the rpm\)"):
        prepare_windows(windows, spec)
    tensor = prepare_windows(with_rpm(windows, 1772.0), spec)
    assert tensor.shape == (2, 2, 512) and np.isfinite(tensor).all()
    with pytest.raises(SignalError, match="rpm must be finite and > 0"):
        prepare_windows(with_rpm(windows, 0.0), spec)
    fast = SignalSpec(representation="order_spectrum", orders=(0.5, 180.0), **SPEC)
    with pytest.raises(SignalError, match="order 180 at 2400 rpm is 7200 Hz, above the Nyquist"):
        prepare_windows(with_rpm(windows, 2400.0), fast)


def test_a_spec_without_the_new_fields_reads_as_before():
    old = {"sampling_rate": 12000.0, "window": 1024, "hop": 512, "representation": "waveform", "channels": 1}
    spec = SignalSpec.model_validate(old)
    windows = np.random.default_rng(2).standard_normal((3, 1024)).astype(np.float32)
    assert prepare_windows(windows, spec).shape == (3, 1, 1024)
