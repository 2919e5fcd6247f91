"""Signal sources: a recorded file replayed at its sampling rate, or samples streamed over TCP.

Both yield ``SampleChunk``s whose ``t0_s`` is the signal time of the first sample, counted from
the start of the source, so rules and the health trend run on signal time and a replay gives
the same events however fast it runs (``realtime=False`` replays as fast as the CPU allows).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_runtime.signal import SignalError


@dataclass(frozen=True)
class SampleChunk:
    t0_s: float  # signal time of samples[0] since the source started
    ts: float  # wall-clock time the chunk was read
    samples: np.ndarray  # float32, 1-D


def read_samples(path: str | Path) -> np.ndarray:
    """A recorded signal on the device: ``.npy`` (1-D) or ``.csv`` with one numeric column."""
    path = Path(path)
    if not path.is_file():
        raise SignalError(f"{path}: signal file not found")
    if path.suffix.lower() == ".npy":
        try:
            samples = np.load(path, allow_pickle=False)  # an object array would need unpickling: refused
        except (ValueError, OSError, EOFError) as exc:
            raise SignalError(f"{path}: not a numeric .npy array ({exc})") from exc
    elif path.suffix.lower() == ".csv":
        try:
            samples = np.loadtxt(path, delimiter=",", ndmin=1, skiprows=_header_rows(path))
        except ValueError as exc:
            raise SignalError(f"{path}: expected one numeric column ({exc})") from exc
    else:
        raise SignalError(f"{path}: unsupported signal file {path.suffix!r} on the device (use .npy or .csv)")
    try:
        samples = np.asarray(samples, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise SignalError(f"{path}: samples are not numbers ({exc})") from exc
    if samples.ndim != 1:
        raise SignalError(f"{path}: expected a 1-D signal, got shape {samples.shape}")
    if samples.size == 0:
        raise SignalError(f"{path}: no samples (expected one numeric column)")
    bad = np.flatnonzero(~np.isfinite(samples))
    if bad.size:  # a NaN would turn every window it touches into a NaN prediction
        raise SignalError(
            f"{path}: {bad.size} of {samples.size} samples are NaN or infinite (first at sample {bad[0]}); "
            "a sensor dropout or a bad export"
        )
    return samples


def _header_rows(path: Path) -> int:
    with path.open(encoding="utf-8") as handle:
        first = handle.readline().strip()
    try:
        float(first)
    except ValueError:
        return 1
    return 0


def replay_file(path: str | Path, sampling_rate: float, chunk: int = 1024, *, realtime: bool = True) -> Iterator[SampleChunk]:
    """Chunks of a recorded file; ``realtime`` paces them at ``sampling_rate``, as a sensor would."""
    samples = read_samples(path)
    started = time.monotonic()
    for start in range(0, len(samples), chunk):
        t0 = start / sampling_rate
        if realtime:
            time.sleep(max(0.0, t0 - (time.monotonic() - started)))
        yield SampleChunk(t0_s=t0, ts=time.time(), samples=samples[start : start + chunk])


def stream_tcp(host: str, port: int, sampling_rate: float, chunk: int = 1024, timeout_s: float = 10.0) -> Iterator[SampleChunk]:
    """Little-endian float32 samples from a TCP sender (a DAQ bridge, a serial-to-TCP gateway).

    Ends when the sender closes the connection. Samples are counted, so signal time stays exact
    however the bytes were split into packets.
    """
    try:
        connection = socket.create_connection((host, port), timeout=timeout_s)
    except OSError as exc:
        raise SignalError(f"tcp://{host}:{port}: cannot connect ({exc})") from exc
    received = 0
    pending = b""
    with connection:
        while True:
            data = connection.recv(4 * chunk)
            if not data:
                break
            pending += data
            usable = len(pending) - len(pending) % 4
            if usable == 0:
                continue
            samples = np.frombuffer(pending[:usable], dtype="<f4").astype(np.float32)
            pending = pending[usable:]
            yield SampleChunk(t0_s=received / sampling_rate, ts=time.time(), samples=samples)
            received += len(samples)
