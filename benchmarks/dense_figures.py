"""``python -m benchmarks.dense_figures --bundle B --checkpoint CKPT --out DIR``: a detection or
segmentation bundle's figures in one run: the task metric of every artifact (from the manifest,
measured through edge_runtime at export), latency at batch 1 against PyTorch eager FP32 on the
same preprocessed held-out frames, and artifact sizes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from benchmarks.heldout import held_out
from edge_runtime.bundle import load_bundle
from edge_runtime.cli_types import positive_float
from edge_runtime.errors import AditError
from edge_runtime.measure.timing import LatencyStats, time_calls
from edge_runtime.model import BundleModel, Predictor
from train.checkpoint import read_checkpoint


def dense_figures(bundle_path: Path, checkpoint: Path, *, frames: int = 8, min_seconds: float = 2.0) -> dict:
    bundle = load_bundle(bundle_path)
    task, samples = held_out(bundle)
    model = task.load(read_checkpoint(checkpoint))
    prepare = Predictor(bundle.manifest, lambda batch: [], name=str(bundle_path)).prepare
    batches = [prepare([task.frame(sample)]) for sample in samples[:frames]]
    cycle = {"i": 0}

    def next_batch():
        cycle["i"] = (cycle["i"] + 1) % len(batches)
        return batches[cycle["i"]]

    def eager() -> None:
        with torch.no_grad():
            model(torch.from_numpy(next_batch()))

    pytorch = LatencyStats.from_samples(
        time_calls(eager, warmup=3, min_iterations=20, min_seconds=min_seconds)
    )
    rows = [
        {
            "artifact": "pytorch-fp32 (eager)",
            "p50_ms": pytorch.p50_ms,
            "ratio_to_pytorch": 1.0,
            "mb": None,
            "status": "reference",
            "metric": None,
        }
    ]
    for artifact in bundle.manifest.artifacts:
        if artifact.metrics.get(task.metric) is None:  # the gate could not run it: nothing to time
            rows.append(
                {
                    "artifact": artifact.key,
                    "ran_in": None,
                    "p50_ms": None,
                    "ratio_to_pytorch": None,
                    "mb": artifact.total_bytes / 1e6,
                    "status": artifact.status,
                    "metric": None,
                    "map": None,
                }
            )
            continue
        runner = BundleModel(bundle, artifact.key)
        stats = LatencyStats.from_samples(
            time_calls(
                lambda r=runner: r.infer(next_batch()), warmup=3, min_iterations=20, min_seconds=min_seconds
            )
        )
        rows.append(
            {
                "artifact": artifact.key,
                "ran_in": runner.runtime_precision,
                "p50_ms": stats.p50_ms,
                "ratio_to_pytorch": stats.p50_ms / pytorch.p50_ms,
                "mb": artifact.total_bytes / 1e6,
                "status": artifact.status,
                "metric": artifact.metrics.get(task.metric),
                "map": artifact.metrics.get("map"),
            }
        )
    return {
        "bundle": str(bundle_path),
        "task": task.name,
        "metric": task.metric,
        "input": list(bundle.manifest.input.size),
        "torch_threads": torch.get_num_threads(),
        "frames": len(batches),
        "rows": rows,
    }


def render(results: dict) -> str:
    metric = results["metric"]
    lines = [
        f"{results['task']} bundle {results['bundle']} (input {results['input']}, batch 1, "
        f"torch threads {results['torch_threads']})",
        "",
        f"| artifact | {metric} | p50 ms | x PyTorch FP32 | MB | status |",
        "|---|---|---|---|---|---|",
    ]
    for row in results["rows"]:
        value = "" if row["metric"] is None else f"{100 * row['metric']:.2f}"
        size = "" if row["mb"] is None else f"{row['mb']:.2f}"
        timing = "– | –" if row["p50_ms"] is None else f"{row['p50_ms']:.1f} | {row['ratio_to_pytorch']:.2f}"
        lines.append(f"| {row['artifact']} | {value} | {timing} | {size} | {row['status']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dense_figures", description=__doc__)
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seconds", type=positive_float, default=2.0)
    args = parser.parse_args(argv)
    try:
        results = dense_figures(args.bundle, args.checkpoint, min_seconds=args.seconds)
    except AditError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    (args.out / "report.md").write_text(render(results) + "\n")
    print(render(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
