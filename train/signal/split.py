"""Per-recording contiguous splits: a window never straddles train, val and test.

Overlapping windows from one stretch of signal are near-duplicates, so random window splits leak.
Each recording is cut into contiguous train | val | test segments and windows are taken inside
each segment only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_runtime.signal import SignalError, sliding_windows
from train.signal.readers import Recording

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Windows:
    """Windows with their labels and where they came from."""

    x: np.ndarray  # (N, window) float32 samples
    y: np.ndarray  # (N,) int64 class indices
    source: list[str]
    rpm: np.ndarray  # (N,) float64 shaft speed of each window's recording; NaN where unknown

    def __len__(self) -> int:
        return len(self.y)


def segment_bounds(length: int, fractions: tuple[float, float, float]) -> dict[str, tuple[int, int]]:
    """[start, end) sample ranges of the train/val/test segments of one recording."""
    if any(f < 0 for f in fractions) or not np.isclose(sum(fractions), 1.0):
        raise SignalError(f"split fractions must be >= 0 and sum to 1, got {fractions}")
    edges = np.round(np.cumsum((0.0, *fractions)) * length).astype(int)
    return {name: (int(edges[i]), int(edges[i + 1])) for i, name in enumerate(SPLITS)}


def split_windows(
    recordings: list[Recording],
    classes: list[str],
    window: int,
    hop: int,
    fractions: tuple[float, float, float],
) -> dict[str, Windows]:
    """Windows per split, labelled by index into ``classes``."""
    parts: dict[str, list[tuple[np.ndarray, int, str, float]]] = {name: [] for name in SPLITS}
    for rec in recordings:
        if rec.label not in classes:
            raise SignalError(f"recording {rec.name}: label {rec.label!r} is not in the classes {classes}")
        for name, (start, end) in segment_bounds(len(rec.samples), fractions).items():
            cut = sliding_windows(rec.samples[start:end], window, hop)
            rpm = np.nan if rec.rpm is None else rec.rpm
            parts[name].extend((w, classes.index(rec.label), rec.name, rpm) for w in cut)
    return {name: _stack(items, window) for name, items in parts.items()}


def _stack(items: list[tuple[np.ndarray, int, str, float]], window: int) -> Windows:
    if not items:
        return Windows(np.empty((0, window), np.float32), np.empty(0, np.int64), [], np.empty(0))
    return Windows(
        np.stack([i[0] for i in items]),
        np.array([i[1] for i in items], np.int64),
        [i[2] for i in items],
        np.array([i[3] for i in items], np.float64),
    )


def take_per_class(windows: Windows, k: int, seed: int) -> Windows:
    """``k`` seeded windows per class (all when a class has fewer): the few labelled target windows."""
    rng = np.random.default_rng(seed)
    chosen = (
        np.concatenate(
            [rng.permutation(np.flatnonzero(windows.y == c))[:k] for c in np.unique(windows.y)]
        ).astype(int)
        if k > 0 and len(windows)
        else np.empty(0, int)
    )
    return Windows(
        windows.x[chosen], windows.y[chosen], [windows.source[i] for i in chosen], windows.rpm[chosen]
    )


def concat(*parts: Windows) -> Windows:
    return Windows(
        np.concatenate([p.x for p in parts]),
        np.concatenate([p.y for p in parts]),
        [s for p in parts for s in p.source],
        np.concatenate([p.rpm for p in parts]),
    )


def feedback_windows(path: Path, classes: list[str], window: int) -> Windows:
    """The operator-labelled windows of ``edge_runtime.siteloop signal-export`` as training windows."""
    if not path.is_file():
        raise SignalError(
            f"data.feedback {path}: no such file (python -m edge_runtime.siteloop signal-export writes it)"
        )
    with np.load(path, allow_pickle=False) as npz:
        x, rpm, labels = npz["x"], npz["rpm"], [str(label) for label in npz["labels"]]
    if x.ndim != 2 or x.shape[1] != window:
        raise SignalError(f"data.feedback {path}: windows shaped {x.shape}, the run cuts {window} samples")
    unknown = sorted(set(labels) - set(classes))
    if unknown:
        raise SignalError(f"data.feedback {path}: labels {unknown} are not classes of the run ({classes})")
    y = np.array([classes.index(label) for label in labels], np.int64)
    return Windows(x.astype(np.float32), y, [f"feedback:{path.name}"] * len(y), rpm.astype(np.float64))
