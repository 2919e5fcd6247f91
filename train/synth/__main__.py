"""``python -m train.synth --out DIR [--seed 0] [--preset demo|tiny]``: write the synthetic data set."""

from __future__ import annotations

import argparse
import json
import sys
import time

from edge_runtime.cli_types import non_negative_int
from train.synth.errors import SynthError
from train.synth.generate import generate
from train.synth.presets import PRESETS


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m train.synth", description=__doc__)
    parser.add_argument(
        "--out", required=True, help="output folder (created; an earlier run there is replaced)"
    )
    parser.add_argument("--seed", type=non_negative_int, default=0, help="root seed (non-negative)")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="demo")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    started = time.perf_counter()
    try:
        info = generate(args.out, seed=args.seed, preset=args.preset)
    except SynthError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(info["counts"]))
    print(f"synthetic data set written to {args.out} in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
