"""``python -m train fit --config configs/train-demo.yaml [key=value ...]`` and ``python -m train doctor DATA``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edge_runtime.errors import AditError, ConfigError
from edge_runtime.logs import setup_logging
from edge_runtime.yamlconfig import load_config
from train.config import TrainConfig
from train.tasks import DENSE_TASKS, DenseTask, task_of


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train", description="Fine-tune a pretrained model; check data first.")
    commands = parser.add_subparsers(dest="command", required=True)
    fit_parser = commands.add_parser("fit", help="fine-tune on class folders (data.root/{train,val,test}/<class>/) or a CSV")
    fit_parser.add_argument("--config", help="YAML training configuration (defaults when omitted)")
    fit_parser.add_argument("--validate", action="store_true", help="check the configuration and exit")
    fit_parser.add_argument("--resume", action="store_true", help="continue from <out>/last.pt (same as resume=true)")
    fit_parser.add_argument("overrides", nargs="*", help="key=value overrides, e.g. optim.epochs=3 model.name=resnet18")
    doctor_parser = commands.add_parser("doctor", help="data-quality report; exit 1 when it finds errors")
    doctor_parser.add_argument(
        "data", type=Path, help="class folders, YOLO (data.yaml or folder), COCO, images/ + masks/"
    )
    doctor_parser.add_argument("--fix", action="store_true", help="move corrupt files and duplicate copies to the quarantine folder")
    doctor_parser.add_argument("--quarantine", type=Path, help="where --fix moves files (default: <data>.quarantine beside it)")
    doctor_parser.add_argument("--json", type=Path, help="also write the report as JSON here")
    doctor_parser.add_argument("thresholds", nargs="*", help="key=value, e.g. near_distance=6 dark_mean=15 blur_variance=10")
    signal_parser = commands.add_parser("signal", help="vibration fault classifier with cross-load transfer")
    signal_parser.add_argument("--config", help="YAML signal training configuration (defaults when omitted)")
    signal_parser.add_argument("overrides", nargs="*", help="key=value overrides, e.g. data.source=cwru")
    args = parser.parse_args(argv)
    if args.command == "signal":
        from train.signal.cli import run_signal

        return run_signal(args.config, args.overrides)
    setup_logging()
    try:
        return _fit(args) if args.command == "fit" else _doctor(args)
    except AditError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _fit(args: argparse.Namespace) -> int:
    task = task_of(args.config, args.overrides)
    if task in DENSE_TASKS:  # detection / segmentation: their own config and engine
        if args.resume:
            raise ConfigError(f"--resume is not supported for {task} training yet; start the run again")
        return _fit_dense(DENSE_TASKS[task], args.config, args.overrides, validate=args.validate)
    config = load_config(TrainConfig, args.config, args.overrides + (["resume=true"] if args.resume else []))
    if args.validate:
        print(json.dumps(config.model_dump(mode="json"), indent=2))
        return 0
    from train.engine import fit  # torch loads only when training really starts

    metrics = fit(config)
    if metrics:  # under torchrun only rank 0 reports
        summary = {k: metrics[k] for k in ("best_epoch", "val_top1", "train_images_per_s")}
        print(json.dumps(summary | {"test_top1": metrics["test"]["top1"]}))
    return 0


def _fit_dense(task: DenseTask, config_path: str | None, overrides: list[str], *, validate: bool) -> int:
    config = load_config(task.config_class(), config_path, overrides)
    if validate:
        print(json.dumps(config.model_dump(mode="json"), indent=2))
        return 0
    metrics = task.fit_function()(config)
    print(json.dumps({"best_epoch": metrics["best_epoch"], f"val_{task.metric}": metrics[f"val_{task.metric}"], f"test_{task.metric}": metrics["test"][task.metric]}))
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from train.doctor import DoctorConfig, default_quarantine, describe_fix, examine, fix

    config = load_config(DoctorConfig, None, args.thresholds)
    report = examine(args.data, config)
    print(report.summary())
    if args.fix and any(f.quarantine for f in report.findings):
        quarantine = args.quarantine or default_quarantine(args.data)
        moved = fix(report, quarantine)
        print(f"\n{describe_fix(report, moved, quarantine)}; after the fix:")
        report = examine(args.data, config)
        print(report.summary())
    if args.json:
        args.json.write_text(report.to_json())
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
