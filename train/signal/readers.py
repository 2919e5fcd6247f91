"""Readers for the formats site vibration data arrives in; the sampling rate is data, not a constant.

- ``.mat`` (CWRU / MATLAB): the drive-end channel ``X<no>_DE_time`` unless a key is given;
- ``.npy``: a 1-D array, rate given by the caller;
- ``.csv``: one numeric column (optional header), or ``time,value`` columns, whose spacing gives the rate.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_runtime.signal import SignalError


@dataclass(frozen=True)
class Recording:
    """One continuous measurement of one machine state."""

    samples: np.ndarray
    sampling_rate: float
    label: str
    load: int
    name: str
    rpm: float | None = None  # shaft speed, where the data says it


def read_signal(
    path: str | Path, sampling_rate: float | None = None, key: str | None = None
) -> tuple[np.ndarray, float]:
    """(samples, sampling_rate) from a .mat, .npy or .csv file."""
    path = Path(path)
    if not path.is_file():
        raise SignalError(f"{path}: signal file not found")
    suffix = path.suffix.lower()
    if suffix == ".mat":
        samples = _read_mat(path, key)
    elif suffix == ".npy":
        samples = np.load(path, allow_pickle=False)
    elif suffix == ".csv":
        samples, from_time = _read_csv(path)
        sampling_rate = sampling_rate or from_time
    else:
        raise SignalError(f"{path}: unsupported signal format {suffix!r} (use .mat, .npy or .csv)")
    if sampling_rate is None or sampling_rate <= 0:
        raise SignalError(f"{path}: the sampling rate is unknown; pass it (Hz) with the file")
    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    if not np.isfinite(samples).all():
        raise SignalError(f"{path}: signal contains NaN or infinite samples")
    return samples, float(sampling_rate)


def _read_mat(path: Path, key: str | None) -> np.ndarray:
    from scipy.io import loadmat

    content = {k: v for k, v in loadmat(path).items() if not k.startswith("__")}
    if key is None:
        drive_end = [k for k in content if k.endswith("_DE_time")]
        if len(drive_end) != 1:
            raise SignalError(f"{path}: cannot pick the channel (keys {sorted(content)}); pass key=")
        key = drive_end[0]
    if key not in content:
        raise SignalError(f"{path}: no variable {key!r}; it has {sorted(content)}")
    return content[key]


def _read_csv(path: Path) -> tuple[np.ndarray, float | None]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.reader(handle) if row]
    if rows and not _numeric(rows[0]):
        rows = rows[1:]
    if not rows or any(len(r) != len(rows[0]) or not _numeric(r) for r in rows) or len(rows[0]) > 2:
        raise SignalError(f"{path}: expected one value column or time,value columns of numbers")
    table = np.array(rows, dtype=np.float64)
    if table.shape[1] == 1:
        return table[:, 0], None
    spacing = np.diff(table[:, 0])
    if len(spacing) == 0 or spacing.min() <= 0:
        raise SignalError(f"{path}: the time column must increase")
    return table[:, 1], float(1.0 / spacing.mean())


def _numeric(row: list[str]) -> bool:
    try:
        [float(x) for x in row]
    except ValueError:
        return False
    return True


def read_cwru(root: str | Path) -> list[Recording]:
    """Every recording listed in a CWRU-style ``manifest.csv`` (file,label,load_hp,fs_hz,de_key[,rpm])."""
    root = Path(root)
    manifest = root / "manifest.csv"
    if not manifest.is_file():
        raise SignalError(f"{root}: no manifest.csv; is this the CWRU data directory?")
    with manifest.open(newline="", encoding="utf-8") as handle:
        entries = list(csv.DictReader(handle))
    recordings = []
    for entry in entries:
        samples, rate = read_signal(root / entry["file"], float(entry["fs_hz"]), entry["de_key"])
        rpm = float(entry["rpm"]) if entry.get("rpm") else None
        recordings.append(
            Recording(samples, rate, entry["label"], int(entry["load_hp"]), Path(entry["file"]).stem, rpm)
        )
    return recordings
