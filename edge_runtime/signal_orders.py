"""Shaft-speed normalised spectra: a window's spectrum on an axis of shaft orders, not hertz.

A bearing defect hits at a fixed multiple of the shaft rate (BPFI is 5.4 orders on the CWRU
bearing, whatever the speed), and a different load turns the shaft at a different speed: in hertz
every fault line and its harmonics move, in orders they stay. Each window's magnitude spectrum
(numpy's real FFT) is sampled at fixed orders, ``frequency = order * rpm / 60``, so the model sees
the same bins at every speed. The envelope variant first takes the magnitude of the analytic signal
(the Hilbert transform, as scipy.signal.hilbert computes it) and analyses the impact rate rather
than the ringing of the structure. The rpm is therefore an input: training has it per recording,
the device per machine (``edge_runtime.signal_monitor``).
"""

from __future__ import annotations

import numpy as np

from edge_runtime.errors import AditError


class OrderError(AditError):
    """An rpm or order range cannot give an order spectrum; the message names the value."""


def analytic_envelope(batch: np.ndarray) -> np.ndarray:
    """|analytic signal| per row, the FFT construction scipy.signal.hilbert uses (numpy only: the
    edge install has no scipy)."""
    n = batch.shape[1]
    gain = np.zeros(n)
    gain[0] = 1.0
    if n % 2 == 0:
        gain[n // 2] = 1.0
        gain[1 : n // 2] = 2.0
    else:
        gain[1 : (n + 1) // 2] = 2.0
    return np.abs(np.fft.ifft(np.fft.fft(batch, axis=1) * gain, axis=1))


def order_axis(orders: tuple[float, float], bins: int) -> np.ndarray:
    return np.linspace(orders[0], orders[1], bins)


def order_spectra(
    batch: np.ndarray,
    rpm: np.ndarray,
    sampling_rate: float,
    orders: tuple[float, float],
    bins: int,
    *,
    envelope: bool,
    log_floor: float,
) -> np.ndarray:
    """(N, bins) log10 magnitude at fixed shaft orders, each row minus its own mean (gain-free)."""
    rpm = np.asarray(rpm, dtype=np.float64).reshape(-1)
    if len(rpm) != len(batch):
        raise OrderError(f"{len(batch)} windows but {len(rpm)} rpm values")
    if not np.isfinite(rpm).all() or (rpm <= 0).any():
        raise OrderError(f"rpm must be finite and > 0, got {rpm[~np.isfinite(rpm) | (rpm <= 0)][:3]}")
    nyquist_order = sampling_rate / 2 / (rpm / 60.0)
    if (nyquist_order < orders[1]).any():
        fastest = float(rpm.max())
        raise OrderError(
            f"order {orders[1]:g} at {fastest:g} rpm is {orders[1] * fastest / 60:g} Hz, above the Nyquist "
            f"frequency {sampling_rate / 2:g} Hz of the signal; lower signal.orders or the rpm is wrong"
        )
    x = np.asarray(batch, dtype=np.float64)
    x = x - x.mean(axis=1, keepdims=True)
    if envelope:
        x = analytic_envelope(x)
        x = x - x.mean(axis=1, keepdims=True)
    magnitude = np.abs(np.fft.rfft(x * np.hanning(x.shape[1]), axis=1)) / x.shape[1]
    hz = np.fft.rfftfreq(x.shape[1], 1.0 / sampling_rate)
    axis = order_axis(orders, bins)
    sampled = np.stack([np.interp(axis * r / 60.0, hz, m) for r, m in zip(rpm, magnitude, strict=True)])
    logged = np.log10(sampled + log_floor)
    return (logged - logged.mean(axis=1, keepdims=True)).astype(np.float32)


def fft_spectra(batch: np.ndarray, bins: int, log_floor: float) -> np.ndarray:
    """(N, bins) log10 magnitude on the hertz axis (0 to Nyquist): the same model input without the
    speed normalisation, to measure what the normalisation is worth."""
    x = np.asarray(batch, dtype=np.float64)
    x = x - x.mean(axis=1, keepdims=True)
    magnitude = np.abs(np.fft.rfft(x * np.hanning(x.shape[1]), axis=1)) / x.shape[1]
    source = np.linspace(0.0, 1.0, magnitude.shape[1])
    sampled = np.stack([np.interp(np.linspace(0.0, 1.0, bins), source, m) for m in magnitude])
    logged = np.log10(sampled + log_floor)
    return (logged - logged.mean(axis=1, keepdims=True)).astype(np.float32)
