"""A demo vibration stream that degrades: healthy running, then a bearing fault.

Synthetic by default (the generator's classes); with ``--cwru ROOT`` it joins the held-out test
segments (the last 20%) of a real normal and a real inner-race recording, which training never saw.

``python -m train.signal.stream --out runs/signal/demo/stream.npy
    [--cwru ../shared/data/cwru_bearing_12k_de]``
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from train.signal.readers import read_signal
from train.signal.synth import SynthSettings, bearing_signal

CWRU_PARTS = (("normal_0_97.mat", "X097_DE_time"), ("12k_Drive_End_IR007_1_106.mat", "X106_DE_time"))


def synthetic_stream(
    seconds_each: float = 4.0, fault: str = "inner_race", load: int = 1, seed: int = 7
) -> np.ndarray:
    settings = SynthSettings(seconds=seconds_each)
    return np.concatenate(
        [bearing_signal("normal", load, seed, settings), bearing_signal(fault, load, seed + 1, settings)]
    )


def cwru_stream(root: Path, test_fraction: float = 0.2) -> np.ndarray:
    parts = []
    for name, key in CWRU_PARTS:
        samples, _ = read_signal(root / "raw_mat" / name, 12_000.0, key)
        parts.append(samples[int(len(samples) * (1 - test_fraction)) :])
    return np.concatenate(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m train.signal.stream", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--cwru", type=Path, help="CWRU data root; synthetic when omitted")
    args = parser.parse_args(argv)
    samples = cwru_stream(args.cwru) if args.cwru else synthetic_stream()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.save(args.out, samples.astype(np.float32))
    print(f"wrote {args.out}: {len(samples)} samples")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
