"""``python -m benchmarks --bundle BUNDLE [--checkpoint CKPT] --out DIR`` (the model and pipeline benchmark),
``python -m benchmarks select --bundle B --results R [--write site.yaml]``,
``python -m benchmarks train --config C --out DIR`` (default recipe against ``seed``) and
``python -m benchmarks capacity --bundle B --video V --out DIR`` (H.264 cameras over RTSP per box)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from benchmarks.capacity_cli import capacity
from benchmarks.heldout import bundle_data, held_out
from benchmarks.i18n import HEADINGS
from benchmarks.models import run_model_benchmark
from benchmarks.pipeline import DEFAULT_CAMERAS, run_pipeline_benchmark, site_for
from benchmarks.report import build_results, recommend, render_markdown, write_report
from benchmarks.sweep import adit_default, best_latency, openvino_sweep
from benchmarks.training import run_training_benchmark
from edge_runtime.bundle import Bundle, load_bundle
from edge_runtime.cli_types import fraction, positive_counts, positive_float, positive_int
from edge_runtime.config import load_site_config
from edge_runtime.errors import AditError
from edge_runtime.logs import setup_logging
from edge_runtime.measure.artifacts import BenchSettings
from edge_runtime.measure.host import host_info
from edge_runtime.measure.select import load_results, select_artifact, write_site_selection
from edge_runtime.model import Predictor
from edge_runtime.yamlconfig import load_config
from train.config import ClassifyConfig


def bench_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="Benchmark every format of a bundle."
    )
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--checkpoint", type=Path, help="PyTorch checkpoint for the eager FP32 baseline")
    parser.add_argument(
        "--data", type=Path, help="class-folder data root with a test/ split (default: the bundle's)"
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--seconds", type=positive_float, default=1.0, help="minimum timing per row and repeat"
    )
    parser.add_argument(
        "--repeats", type=positive_int, default=1, help="round-robin latency repeats; p50 is their median"
    )
    parser.add_argument(
        "--batch", type=positive_int, default=8, help="throughput-mode batch for ONNX Runtime and PyTorch"
    )
    parser.add_argument(
        "--threads", type=positive_int, help="inference threads for every row (default: each runtime's)"
    )
    parser.add_argument("--cv2", action="store_true", help="add an OpenCV cv2.dnn row for the FP32 ONNX file")
    parser.add_argument(
        "--sweep-threads",
        type=positive_counts,
        help="hand-tuned OpenVINO INT8 latency sweep (default: 1..cores)",
    )
    parser.add_argument(
        "--sweep-streams",
        type=positive_counts,
        default=[],
        help="hand-tuned OpenVINO INT8 throughput sweep, e.g. 1,2",
    )
    parser.add_argument(
        "--sweep-batch",
        type=positive_counts,
        default=[],
        help="OpenVINO INT8 synchronous batch sweep, e.g. 1,4,8",
    )
    parser.add_argument("--video", type=Path, help="run the pipeline benchmark on this video")
    parser.add_argument(
        "--site", type=Path, help="site YAML for the pipeline benchmark (rules, camera settings)"
    )
    parser.add_argument(
        "--cameras",
        type=positive_counts,
        default=list(DEFAULT_CAMERAS),
        help="camera counts for the scaling sweep",
    )
    parser.add_argument("--camera-seconds", type=positive_float, default=4.0, help="seconds per camera count")
    parser.add_argument("--lang", choices=sorted(HEADINGS), default="en", help="report headings")
    return parser


def _tuned(
    bundle: Bundle, data_root: Path | None, args: argparse.Namespace
) -> tuple[list[dict], dict | None]:
    """The hand-tuned OpenVINO INT8 sweep and its best latency point, with edge_runtime's own figure
    for the same artifact measured alongside (empty without an INT8 IR)."""
    artifact = next((a for a in bundle.manifest.artifacts if a.key == "openvino-int8"), None)
    if artifact is None:
        return [], None
    task, samples = held_out(bundle, data_root)
    sample = Predictor(bundle.manifest, lambda batch: [], name=str(bundle.root)).prepare(
        [task.frame(samples[0])]
    )
    threads = args.sweep_threads or list(range(1, min(host_info()["cores"] or 1, 4) + 1))
    points = openvino_sweep(
        bundle, artifact, sample, args.seconds, threads, args.sweep_streams, args.repeats, args.sweep_batch
    )
    best, ours = best_latency(points), adit_default(points)
    if best is None or ours is None:
        return [asdict(p) for p in points], None
    return [asdict(p) for p in points], asdict(best) | {"adit_p50_ms": ours.p50_ms}


def _pipeline(args: argparse.Namespace, bundle_root: Path, artifact: str | None) -> dict | None:
    if args.video is None:
        return None
    config = site_for(load_site_config(args.site), bundle_root, artifact)
    return run_pipeline_benchmark(
        config, args.video, cameras=tuple(args.cameras), seconds=args.camera_seconds
    )


def bench(argv: list[str]) -> int:
    args = bench_parser().parse_args(argv)
    bundle = load_bundle(args.bundle)
    data_root = args.data
    settings = BenchSettings(
        seconds=args.seconds, repeats=args.repeats, batch=args.batch, threads=args.threads, cv2=args.cv2
    )
    rows = run_model_benchmark(bundle, args.checkpoint, data_root, settings)
    sweep, tuned = _tuned(bundle, data_root, args)
    _, data = bundle_data(bundle, data_root)
    synthetic = (Path(data.source).parent / "dataset.json").is_file()  # adit's generator writes it
    shipped = recommend([asdict(r) for r in rows])
    pipeline = _pipeline(
        args, args.bundle, f"{shipped['format']}-{shipped['precision']}" if shipped else None
    )
    results = build_results(
        host_info(),
        rows,
        bundle.manifest.name,
        synthetic,
        settings=vars(settings) | {"lang": args.lang},
        sweep=sweep or None,
        tuned_int8=tuned,
        pipeline=pipeline,
    )
    write_report(results, args.out, args.lang)
    print(render_markdown(results, args.lang))
    return 0


def select(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks select",
        description=(
            "Print the fastest benchmarked artifact that passed the accuracy gate; optionally write it as a site YAML."
        ),
    )
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--results", type=Path, required=True, help="results.json of `python -m benchmarks`")
    parser.add_argument(
        "--write", type=Path, help="site YAML to write with model.bundle and model.artifact set"
    )
    parser.add_argument(
        "--site", type=Path, help="site YAML to start from (cameras, rules, sinks) when writing"
    )
    args = parser.parse_args(argv)
    key, row = select_artifact(load_bundle(args.bundle), load_results(args.results))
    if args.write:
        write_site_selection(args.write, args.bundle, key, args.site)
    print(
        f"model.artifact={key}  # p50 {row['p50_ms']:.2f} ms, top-1 {100 * row['top1']:.2f}%, ran in {row['runtime_precision']}"
    )
    return 0


def train(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks train",
        description=(
            "Train the same model on the same data with the default and the seed recipe; compare images/s and time to target."
        ),
    )
    parser.add_argument(
        "--config", type=Path, required=True, help="training YAML, e.g. configs/train-demo.yaml"
    )
    parser.add_argument("--out", type=Path, required=True, help="folder for both runs and training.json")
    parser.add_argument("--target", type=fraction, default=0.9, help="validation top-1 to reach (0..1)")
    parser.add_argument(
        "--results", type=Path, help="results.json to add the training section to (its report is re-rendered)"
    )
    parser.add_argument(
        "overrides", nargs="*", help="key=value overrides of the training YAML, e.g. optim.epochs=3"
    )
    args = parser.parse_args(argv)
    training = run_training_benchmark(
        load_config(ClassifyConfig, args.config, args.overrides), args.out, args.target
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "training.json").write_text(json.dumps(training, indent=2) + "\n")
    if args.results:
        results = load_results(args.results) | {"training": training}
        write_report(results, args.results.parent, results.get("settings", {}).get("lang", "en"))
    print(json.dumps(training, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    setup_logging()
    commands = {"select": select, "train": train, "capacity": capacity}
    try:
        if argv and argv[0] in commands:
            return commands[argv[0]](argv[1:])
        return bench(argv)
    except AditError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
