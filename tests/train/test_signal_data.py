"""Signal readers, per-recording splits, the synthetic generator's fault frequencies, and training."""

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.io import savemat

from edge_runtime.signal import SignalError
from train.checkpoint import read_checkpoint
from train.signal.readers import Recording, read_cwru, read_signal
from train.signal.split import segment_bounds, split_windows, take_per_class
from train.signal.synth import DEFECT_ORDERS, RPM_BY_LOAD, SynthSettings, bearing_signal

CWRU = Path(__file__).resolve().parents[3] / "shared" / "data" / "cwru_bearing_12k_de"
CWRU = CWRU if CWRU.is_dir() else Path("/work/shared/data/cwru_bearing_12k_de")


def test_readers_take_rate_as_data(tmp_path):
    values = np.sin(np.arange(100) / 5).astype(np.float32)
    np.save(tmp_path / "a.npy", values)
    savemat(tmp_path / "b.mat", {"X001_DE_time": values[:, None], "X001_FE_time": values[:, None]})
    (tmp_path / "c.csv").write_text(
        "time,accel\n" + "".join(f"{i / 2000},{v}\n" for i, v in enumerate(values))
    )
    (tmp_path / "d.csv").write_text("accel\n" + "".join(f"{v}\n" for v in values))
    assert read_signal(tmp_path / "a.npy", 1000)[1] == 1000
    mat, rate = read_signal(tmp_path / "b.mat", 12000)
    assert rate == 12000 and np.allclose(mat, values)
    csv_samples, csv_rate = read_signal(tmp_path / "c.csv")
    assert csv_rate == pytest.approx(2000) and np.allclose(csv_samples, values, atol=1e-6)
    with pytest.raises(SignalError, match="sampling rate is unknown"):
        read_signal(tmp_path / "d.csv")
    with pytest.raises(SignalError, match="X002"):
        read_signal(tmp_path / "b.mat", 12000, key="X002_DE_time")


def test_split_keeps_each_window_inside_one_segment():
    rec = Recording(np.arange(10_000, dtype=np.float32), 1000.0, "normal", 0, "r")
    bounds = segment_bounds(10_000, (0.6, 0.2, 0.2))
    splits = split_windows([rec], ["normal"], window=512, hop=128, fractions=(0.6, 0.2, 0.2))
    for name, (start, end) in bounds.items():
        w = splits[name].x
        assert len(w) and w.min() >= start and w.max() < end  # samples are their own index
    assert len(take_per_class(splits["train"], 5, seed=0)) == 5


def _envelope_peak(x: np.ndarray, fs: float) -> float:
    """Envelope analysis: band-pass around the resonance, rectify, find the envelope's main line."""
    spectrum = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(len(x), 1 / fs)
    spectrum[(freqs < 2000) | (freqs > 4000)] = 0
    envelope = np.abs(np.fft.irfft(spectrum, len(x)))
    spectrum = np.abs(np.fft.rfft(envelope - envelope.mean()))
    freqs = np.fft.rfftfreq(len(x), 1 / fs)
    band = (freqs > 50) & (freqs < 300)
    return float(freqs[band][spectrum[band].argmax()])


@pytest.mark.parametrize("label", sorted(DEFECT_ORDERS))
def test_synthetic_fault_shows_its_defect_frequency(label):
    settings = SynthSettings(seconds=2.0, noise=0.05)
    expected = DEFECT_ORDERS[label] * RPM_BY_LOAD[0] / 60
    assert _envelope_peak(
        bearing_signal(label, 0, seed=1, settings=settings), settings.sampling_rate
    ) == pytest.approx(expected, rel=0.03)


def test_signal_transfer_runs_follow_the_source_run(signal_run):
    out = signal_run
    source = json.loads((out / "metrics.json").read_text())
    assert set(source["test"]["per_class"]) == {"normal", "ball", "inner_race", "outer_race"}
    for shots in (0, 5):
        checkpoint = read_checkpoint(out / f"target_k{shots}" / "best.pt")
        config = checkpoint.meta.config
        assert (config["data"]["loads"], config["data"]["shots"], config["init"]) == (
            [1],
            shots,
            str(out / "best.pt"),
        )
        # the fine-tune keeps the source run's preprocessing: its weights were trained with it
        assert checkpoint.meta.interface.signal == read_checkpoint(out / "best.pt").meta.interface.signal
    assert (
        read_checkpoint(out / "target_k0" / "best.pt").meta.epoch == 0
    )  # k=0: the source weights, measured at 1 HP
    # k=5: the few-shot recipe's fixed schedule, whose last weights are kept (not the best val epoch's)
    tuned = read_checkpoint(out / "target_k5" / "best.pt")
    k5 = json.loads((out / "target_k5" / "metrics.json").read_text())
    assert tuned.meta.config["optim"]["keep"] == "last" and tuned.meta.config["few_shot"]["steps"] == 10
    assert tuned.meta.epoch == k5["best_epoch"] == k5["epochs_run"] == tuned.meta.config["optim"]["epochs"]


@pytest.mark.real_data
def test_cwru_reader_reads_every_recording():
    if not (CWRU / "manifest.csv").is_file():
        pytest.skip(f"CWRU data not present at {CWRU}")
    recordings = read_cwru(CWRU)
    assert len(recordings) == 19 and {r.sampling_rate for r in recordings} == {12000.0}
    assert len({r.label for r in recordings}) == 10 and {r.load for r in recordings} == {0, 1}
