"""Vibration windows -> model input, the ONE implementation shared by training, export and device.

A fault shows as energy at characteristic frequencies (shaft harmonics, bearing defect rates and
their modulation sidebands), so each window becomes a log-magnitude spectrogram image that an
ImageNet-pretrained CNN can be fine-tuned on; the 1-D CNN alternative reads the standardised
waveform. Numpy only: the device runs exactly this code, and training imports it from here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from edge_runtime.errors import AditError
from edge_runtime.signal_orders import OrderError, fft_spectra, order_spectra

Representation = Literal[
    "spectrogram", "waveform", "spectrum", "order_spectrum", "envelope_spectrum", "spectrum_envelope"
]
SPECTRA = ("spectrum", "order_spectrum", "envelope_spectrum", "spectrum_envelope")  # (N, channels, bins)
NEEDS_RPM = ("order_spectrum", "envelope_spectrum", "spectrum_envelope")  # windows come with the rpm


class SignalError(AditError):
    """A signal or its preprocessing settings cannot be used; the message names the input."""


class SignalSpec(BaseModel):
    """The manifest's ``signal`` section: how a window of samples becomes the input tensor."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    sampling_rate: float = Field(gt=0, description="Hz the model was trained at; sources must match")
    window: int = Field(gt=0, description="samples per classified window")
    hop: int = Field(gt=0, description="samples between consecutive windows on a stream")
    representation: Representation = Field(
        "spectrogram",
        description="spectrum: log magnitude over hertz; order_spectrum: over shaft orders; "
        "envelope_spectrum: the Hilbert envelope's, over orders; spectrum_envelope: spectrum and "
        "envelope_spectrum as two channels (resonances stay in hertz, defect rates in orders). With "
        "orders, each window ends with one more value, the rpm",
    )
    n_fft: int = Field(128, gt=1)
    fft_hop: int = Field(32, gt=0)
    log_floor: float = Field(1e-6, gt=0, description="added before log10 so silence stays finite")
    image_size: tuple[int, int] = Field((64, 64), description="(frequency bins, time frames) of the image")
    channels: int = Field(3, ge=1, description="3 replicates the image for ImageNet backbones")
    orders: tuple[float, float] = Field(
        (0.5, 180.0), description="order_spectrum/envelope_spectrum: shaft orders from, to"
    )
    bins: int = Field(1024, gt=1, description="spectrum, order_spectrum, envelope_spectrum: input length")
    mean: float = 0.0
    std: float = Field(1.0, gt=0)

    @model_validator(mode="after")
    def _fits(self) -> SignalSpec:
        if self.representation == "spectrogram" and self.n_fft > self.window:
            raise ValueError(f"n_fft {self.n_fft} is longer than the window {self.window}")
        if not 0 <= self.orders[0] < self.orders[1]:
            raise ValueError(f"orders must be 0 <= from < to, got {self.orders}")
        if min(self.image_size) < 1:
            raise ValueError(f"image_size must be positive, got {self.image_size}")
        return self


def sliding_windows(samples: np.ndarray, window: int, hop: int) -> np.ndarray:
    """(n_windows, window) view of a 1-D signal; the tail shorter than a window is dropped."""
    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    if len(samples) < window:
        return np.empty((0, window), dtype=np.float32)
    return np.lib.stride_tricks.sliding_window_view(samples, window)[::hop]


def log_spectrogram(window: np.ndarray, spec: SignalSpec) -> np.ndarray:
    """(freq, time) log10 STFT magnitude of one window, resampled to ``spec.image_size``."""
    frames = sliding_windows(window - window.mean(), spec.n_fft, spec.fft_hop)
    magnitude = np.abs(np.fft.rfft(frames * np.hanning(spec.n_fft).astype(np.float32), axis=1)).T
    image = np.log10(magnitude + spec.log_floor)[::-1]  # low frequencies at the bottom, as plotted
    return _resize(image, spec.image_size).astype(np.float32)


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Separable linear resampling (no OpenCV, so training needs nothing the device lacks)."""
    rows = np.linspace(0, image.shape[0] - 1, size[0])
    cols = np.linspace(0, image.shape[1] - 1, size[1])
    along_rows = np.stack(
        [np.interp(rows, np.arange(image.shape[0]), image[:, j]) for j in range(image.shape[1])], 1
    )
    return np.stack([np.interp(cols, np.arange(image.shape[1]), along_rows[i]) for i in range(size[0])])


def features(
    windows: np.ndarray | Sequence[np.ndarray], spec: SignalSpec, rpm: np.ndarray | None = None
) -> np.ndarray:
    """Un-normalised features: (N, H, W) spectrograms, (N, window) waveforms, (N, bins) spectra or
    (N, 2, bins) for spectrum_envelope.

    ``rpm`` (N,): the shaft speed of each window, which the order representations need.
    """
    if not len(windows):
        batch = np.empty((0, spec.window), np.float32)
    else:
        batch = np.asarray(windows, dtype=np.float32).reshape(-1, spec.window)
    if spec.representation in NEEDS_RPM:
        if rpm is None:
            raise SignalError(f"the {spec.representation} representation needs the rpm of each window")
        both = spec.representation == "spectrum_envelope"
        if not len(batch):
            return np.empty((0, 2, spec.bins) if both else (0, spec.bins), np.float32)
        try:
            orders = order_spectra(
                batch, rpm, spec.sampling_rate, spec.orders, spec.bins,
                envelope=spec.representation != "order_spectrum", log_floor=spec.log_floor,
            )  # fmt: skip
        except OrderError as exc:
            raise SignalError(str(exc)) from exc
        return np.stack([fft_spectra(batch, spec.bins, spec.log_floor), orders], axis=1) if both else orders
    if spec.representation == "spectrum":
        return fft_spectra(batch, spec.bins, spec.log_floor) if len(batch) else np.empty((0, spec.bins))
    if spec.representation == "waveform":
        centred = batch - batch.mean(axis=1, keepdims=True)
        return centred / (centred.std(axis=1, keepdims=True) + 1e-8)
    if not len(batch):
        return np.empty((0, *spec.image_size), np.float32)
    return np.stack([log_spectrogram(w, spec) for w in batch])


def to_tensor(feats: np.ndarray, spec: SignalSpec) -> np.ndarray:
    """Standardise and shape features for the network: (N, C, H, W) or (N, 1, window)."""
    scaled = ((feats - spec.mean) / spec.std).astype(np.float32)
    if spec.representation == "waveform" or spec.representation in SPECTRA:
        return scaled[:, None, :] if scaled.ndim == 2 else scaled
    return np.repeat(scaled[:, None], spec.channels, axis=1)


def frame_width(spec: SignalSpec) -> int:
    """Values per window the model's ``prepare`` takes: the samples, then the rpm where it needs one."""
    return spec.window + (spec.representation in NEEDS_RPM)


def with_rpm(windows: np.ndarray, rpm: float | np.ndarray) -> np.ndarray:
    """(N, window) samples -> (N, window + 1) frames whose last value is the shaft speed (rpm)."""
    windows = np.asarray(windows, dtype=np.float32)
    column = np.broadcast_to(np.asarray(rpm, dtype=np.float32).reshape(-1, 1), (len(windows), 1))
    return np.concatenate([windows, column], axis=1)


def silent_frame(spec: SignalSpec) -> np.ndarray:
    """A window of silence as ``prepare`` takes it (for timing a model): at half the fastest rpm the
    order range allows, where the representation takes one."""
    silence = np.zeros((1, spec.window), np.float32)
    if spec.representation not in NEEDS_RPM:
        return silence[0]
    return with_rpm(silence, 60.0 * spec.sampling_rate / 4 / spec.orders[1])[0]


def prepare_windows(windows: np.ndarray | Sequence[np.ndarray], spec: SignalSpec) -> np.ndarray:
    """Raw windows -> the model's input tensor: ``spec.window`` samples, plus the rpm as one more
    value for the order representations (``with_rpm``)."""
    batch = np.asarray(windows, dtype=np.float32)
    width = frame_width(spec)
    if batch.ndim != 2 or batch.shape[1] != width:
        rpm_note = " (the samples, then the rpm)" if width > spec.window else ""
        raise SignalError(f"expected windows shaped (N, {width}){rpm_note}, got {batch.shape}")
    if width > spec.window:
        return to_tensor(features(batch[:, :-1], spec, batch[:, -1]), spec)
    return to_tensor(features(batch, spec), spec)


class Windower:
    """Cuts a stream of sample chunks into the overlapping windows the model classifies."""

    def __init__(self, spec: SignalSpec) -> None:
        self.spec = spec
        self._buffer = np.empty(0, dtype=np.float32)
        self._start = 0  # stream index of the buffer's first sample

    def push(self, chunk: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        """Yield (stream index just past the window's last sample, window) for each full window."""
        self._buffer = np.concatenate([self._buffer, np.asarray(chunk, dtype=np.float32).reshape(-1)])
        while len(self._buffer) >= self.spec.window:
            yield self._start + self.spec.window, self._buffer[: self.spec.window].copy()
            self._buffer = self._buffer[self.spec.hop :]
            self._start += self.spec.hop
