"""``python -m benchmarks --bundle BUNDLE [--checkpoint CKPT] --out DIR``"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks.host import host_info
from benchmarks.models import run_model_benchmark
from benchmarks.report import build_results, render_markdown, write_report
from edge_runtime.bundle import load_bundle
from edge_runtime.errors import AditError
from edge_runtime.logs import setup_logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description="Benchmark every format of a bundle.")
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--checkpoint", type=Path, help="PyTorch checkpoint for the eager FP32 baseline")
    parser.add_argument("--data", type=Path, help="class-folder data root with a test/ split (default: the bundle's)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=2.0, help="minimum timing per row")
    args = parser.parse_args(argv)
    setup_logging()
    try:
        bundle = load_bundle(args.bundle)
        data_root = args.data or Path(bundle.manifest.provenance["evaluation_set"]["root"]).parent
        rows = run_model_benchmark(bundle, args.checkpoint, data_root, args.seconds)
        synthetic = (data_root.parent / "dataset.json").is_file()
        results = build_results(host_info(), rows, bundle.manifest.name, synthetic)
        write_report(results, args.out)
    except AditError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(render_markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
