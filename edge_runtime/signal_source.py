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

from edge_runtime.signal import SignalError, SignalSpec


@dataclass(frozen=True)
class SampleChunk:
    t0_s: float  # signal time of samples[0] since the source started
    ts: float  # wall-clock time the chunk was read
    samples: np.ndarray  # float32, 1-D
    rpm: np.ndarray | None = None  # the shaft speed at each sample, when the source has an rpm column


def read_samples(path: str | Path) -> tuple[np.ndarray, float | None]:
    """A recorded signal on the device and its rate when the file says it.

    ``.npy``: a 1-D array (rate unknown); ``.csv``: one numeric column (rate unknown) or
    ``time,value`` columns whose mean spacing gives the rate; an optional header row, where a
    column named ``rpm`` is the shaft speed (``read_rpm``), not a signal column.
    """
    path = Path(path)
    if not path.is_file():
        raise SignalError(f"{path}: signal file not found")
    suffix = path.suffix.lower()
    rate = None
    if suffix == ".npy":
        try:
            samples = np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise SignalError(f"{path}: not a numeric .npy array ({exc})") from exc
    elif suffix == ".csv":
        try:
            table = np.loadtxt(path, delimiter=",", ndmin=2, skiprows=_header_rows(path))
            rpm_column = _rpm_column(path)
            if rpm_column is not None:
                table = np.delete(table, rpm_column, axis=1)
        except ValueError as exc:
            raise SignalError(f"{path}: expected one value column or time,value columns ({exc})") from exc
        if table.shape[1] == 2:
            rate = _rate_of(path, table[:, 0])
        elif table.shape[1] != 1:
            raise SignalError(
                f"{path}: expected one value column or time,value columns, got {table.shape[1]}"
            )
        samples = table[:, -1]
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
    return samples, rate


def _rate_of(path: Path, times: np.ndarray) -> float:
    spacing = np.diff(times)
    if len(spacing) == 0 or spacing.min() <= 0:
        raise SignalError(f"{path}: the time column must increase")
    return float(1.0 / spacing.mean())


def read_rpm(path: str | Path) -> np.ndarray | None:
    """The per-sample shaft speed of a CSV whose header names an ``rpm`` column; None without one."""
    path = Path(path)
    if path.suffix.lower() != ".csv" or not path.is_file():
        return None
    column = _rpm_column(path)
    if column is None:
        return None
    try:
        rpm = np.loadtxt(path, delimiter=",", ndmin=2, skiprows=1)[:, column]
    except (ValueError, IndexError) as exc:
        raise SignalError(f"{path}: the rpm column is not numbers ({exc})") from exc
    bad = np.flatnonzero(~np.isfinite(rpm) | (rpm <= 0))
    if len(bad):
        raise SignalError(f"{path}: rpm must be finite and > 0; row {bad[0] + 2} has {rpm[bad[0]]:g}")
    return rpm.astype(np.float32)


def _rpm_column(path: Path) -> int | None:
    with path.open(encoding="utf-8") as handle:
        names = [cell.strip().lower() for cell in handle.readline().split(",")]
    return names.index("rpm") if "rpm" in names else None


def _header_rows(path: Path) -> int:
    with path.open(encoding="utf-8") as handle:
        first = handle.readline().strip()
    try:
        [float(cell) for cell in first.split(",")]
    except ValueError:
        return 1
    return 0


def load_recording(path: str | Path, spec: SignalSpec) -> np.ndarray:
    """A recorded file checked against the bundle: its rate, finite samples, at least one window.

    Refusing the whole file (rather than skipping bad stretches) keeps a replay's events
    meaningful: a recording at the wrong rate or with gaps would be classified as something else.
    """
    samples, rate = read_samples(path)
    check_rate(str(path), rate, spec)
    bad = np.flatnonzero(~np.isfinite(samples))
    if len(bad):
        raise SignalError(
            f"{path}: {len(bad)} of {len(samples)} samples are NaN or infinite "
            f"(the first at sample {bad[0]}, {bad[0] / spec.sampling_rate:.3f} s); repair or cut the recording"
        )
    if len(samples) < spec.window:
        raise SignalError(
            f"{path}: {len(samples)} samples ({len(samples) / spec.sampling_rate:.3f} s) is shorter than "
            f"one window of {spec.window} samples ({spec.window / spec.sampling_rate:.3f} s)"
        )
    return samples


def check_rate(source: str, rate: float | None, spec: SignalSpec) -> None:
    """Refuse a source whose known rate is not the bundle's (1% tolerance for clock jitter)."""
    if rate is not None and abs(rate - spec.sampling_rate) > 0.01 * spec.sampling_rate:
        raise SignalError(
            f"{source}: sampled at {rate:g} Hz, but the bundle was trained at {spec.sampling_rate:g} Hz; "
            "resample the signal or use a bundle trained at its rate"
        )


def replay_file(
    path: str | Path, spec: SignalSpec, chunk: int = 1024, *, realtime: bool = True
) -> Iterator[SampleChunk]:
    """Chunks of a checked recording; ``realtime`` paces them at the sampling rate, as a sensor would."""
    samples = load_recording(path, spec)
    rpm = read_rpm(path)
    started = time.monotonic()
    for start in range(0, len(samples), chunk):
        t0 = start / spec.sampling_rate
        if realtime:
            time.sleep(max(0.0, t0 - (time.monotonic() - started)))
        speed = None if rpm is None else rpm[start : start + chunk]
        yield SampleChunk(t0_s=t0, ts=time.time(), samples=samples[start : start + chunk], rpm=speed)


def stream_tcp(
    host: str, port: int, sampling_rate: float, chunk: int = 1024, timeout_s: float = 10.0
) -> Iterator[SampleChunk]:
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


def open_samples(source: str, spec: SignalSpec, *, realtime: bool = True) -> Iterator[SampleChunk]:
    """The chunks of a source: ``tcp://host:port`` streams, anything else is a file to replay."""
    if source.startswith("tcp://"):
        host, _, port = source.removeprefix("tcp://").rpartition(":")
        if not host or not port.isdigit():
            raise SignalError(f"{source}: expected tcp://host:port")
        return stream_tcp(host, int(port), spec.sampling_rate)
    return replay_file(source, spec, realtime=realtime)
