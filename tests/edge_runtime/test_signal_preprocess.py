"""The shared signal preprocessing: spectrogram geometry, windowing, manifest section."""

import numpy as np
import pytest
from pydantic import ValidationError

from edge_runtime.bundle import InputSpec, Manifest
from edge_runtime.signal import (
    SignalError,
    SignalSpec,
    Windower,
    log_spectrogram,
    prepare_windows,
    sliding_windows,
)

SPEC = SignalSpec(sampling_rate=8000, window=1024, hop=256, n_fft=128, fft_hop=32, image_size=(64, 32))


def test_tone_lands_in_its_frequency_row():
    t = np.arange(SPEC.window) / SPEC.sampling_rate
    low, high = (log_spectrogram(np.sin(2 * np.pi * f * t).astype(np.float32), SPEC) for f in (500.0, 3000.0))
    assert low.shape == high.shape == (64, 32)
    # row 0 is the top (Nyquist), so a higher tone peaks in a lower row number
    row_low, row_high = low.mean(1).argmax(), high.mean(1).argmax()
    assert row_high < row_low
    assert abs(row_low - (63 - 500 / 4000 * 63)) <= 2


def test_prepare_windows_shapes_and_rejects_wrong_length():
    batch = prepare_windows(np.zeros((2, 1024), np.float32), SPEC)
    assert batch.shape == (2, 3, 64, 32) and batch.dtype == np.float32
    wave = prepare_windows(
        np.random.default_rng(0).normal(size=(2, 1024)),
        SPEC.model_copy(update={"representation": "waveform"}),
    )
    assert wave.shape == (2, 1, 1024)
    with pytest.raises(SignalError, match="1024"):
        prepare_windows(np.zeros((2, 1000)), SPEC)


def test_windower_matches_offline_windows_across_chunk_boundaries():
    stream = np.arange(5000, dtype=np.float32)
    windower = Windower(SPEC)
    got = [item for piece in np.array_split(stream, 7) for item in windower.push(piece)]
    offline = sliding_windows(stream, SPEC.window, SPEC.hop)
    assert len(got) == len(offline)
    assert all(np.array_equal(w, o) for (_, w), o in zip(got, offline, strict=True))
    assert [end for end, _ in got] == [i * SPEC.hop + SPEC.window for i in range(len(offline))]


def test_spec_refuses_fft_longer_than_window():
    with pytest.raises(ValidationError, match="n_fft"):
        SignalSpec(sampling_rate=1000, window=64, hop=32, n_fft=128)


def test_manifest_signal_section_is_optional_and_round_trips():
    base = dict(
        name="m",
        task="signal",
        classes=["normal", "fault"],
        input=InputSpec(size=(64, 32)),
        artifacts=[dict(file="m.onnx", sha256="0" * 64, bytes=1, format="onnx", precision="fp32")],
    )
    assert Manifest(**base).signal is None
    manifest = Manifest(**base, signal=SPEC)
    assert Manifest.model_validate_json(manifest.to_json()).signal == SPEC
