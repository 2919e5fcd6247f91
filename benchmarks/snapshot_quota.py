"""``python -m benchmarks.snapshot_quota``: what a snapshot costs the event path as the folder fills.

A snapshot is written on the inference thread when an event starts, and the folder is kept under
its quota there too. This times ``SnapshotWriter.write`` (annotate, encode, write, keep the quota)
for ``--events`` events, first into an empty folder, then into one already holding ``--files``
snapshots at the quota, so every write also deletes the oldest. Work that grows with the number of
files shows as the gap between the two.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from edge_runtime.cli_types import positive_int
from edge_runtime.config.daemon import SnapshotConfig
from edge_runtime.events import Event
from edge_runtime.snapshots import SnapshotWriter
from edge_runtime.sources import Frame

FILE_BYTES = 4096  # a filler snapshot: size matters only for the quota arithmetic


def _fill(folder: Path, files: int) -> None:
    payload = b"\xff" * FILE_BYTES
    for index in range(files):
        (folder / f"old_{index:08d}.jpg").write_bytes(payload)


def time_writes(folder: Path, files: int, events: int) -> dict[str, float]:
    """Milliseconds per ``write`` (p50, p95, max) with ``files`` snapshots already at the quota."""
    _fill(folder, files)
    # at the quota: every new snapshot evicts old ones; an empty folder stays far below it
    quota_mb = files * FILE_BYTES / (1024 * 1024) if files else 1024.0
    writer = SnapshotWriter(SnapshotConfig(enabled=True, folder=folder, quota_mb=quota_mb), [])
    # a belt-like frame: a gradient with sensor noise (JPEG of about 60 KB, like the demo's)
    noise = np.random.default_rng(0).integers(0, 24, (360, 640, 3), dtype=np.uint8)
    image = (np.linspace(40, 200, 640, dtype=np.uint8)[None, :, None] + noise).astype(np.uint8)
    timings = []
    for index in range(events):
        frame = Frame(camera="belt", index=index, ts=time.time(), pts_s=index / 15, image=image)
        event = Event(
            camera="belt", type="t", label="l", score=0.9, frame=index, phase="start", rule="r", pts_s=0.0
        )
        started = time.perf_counter()
        writer.write(frame, event)
        timings.append((time.perf_counter() - started) * 1000.0)
    timings.sort()
    return {
        "files": files,
        "p50_ms": round(statistics.median(timings), 2),
        "p95_ms": round(timings[int(0.95 * (len(timings) - 1))], 2),
        "max_ms": round(timings[-1], 2),
        "left_in_folder": sum(1 for _ in folder.iterdir()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.snapshot_quota", description=__doc__)
    parser.add_argument("--files", type=positive_int, default=30_000, help="snapshots already in the folder")
    parser.add_argument("--events", type=positive_int, default=200, help="events timed per case")
    args = parser.parse_args(argv)
    results = []
    for files in (0, args.files):
        with tempfile.TemporaryDirectory() as folder:
            results.append(time_writes(Path(folder), files, args.events))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
