"""``python -m train fit --config CONFIG [key=value ...]`` (any task) and ``python -m train doctor DATA``.

Exit codes: 0 done; 1 the data doctor found errors; 2 bad input (configuration, data, checkpoint),
printed as one message without a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from edge_runtime.errors import AditError, ConfigError
from edge_runtime.logs import setup_logging
from edge_runtime.yamlconfig import load_config
from train.engine import RunFailed
from train.task import get_task, list_tasks


def parser() -> argparse.ArgumentParser:
    """``fit`` and ``doctor``; ``adit train|doctor`` list and translate their keys from it."""
    parser = argparse.ArgumentParser(
        prog="python -m train", description="Fine-tune a pretrained model; check data first."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    fit_parser = commands.add_parser(
        "fit", help="train any task; the configuration's `task:` picks it (default classify)"
    )
    fit_parser.add_argument("--config", help="YAML training configuration (defaults when omitted)")
    fit_parser.add_argument("--validate", action="store_true", help="check the configuration and exit")
    fit_parser.add_argument(
        "--resume", action="store_true", help="continue from <out>/last.pt (same as resume=true)"
    )
    fit_parser.add_argument(
        "overrides", nargs="*", help="key=value overrides, e.g. optim.epochs=3 model.name=resnet18"
    )
    doctor_parser = commands.add_parser("doctor", help="data-quality report; exit 1 when it finds errors")
    doctor_parser.add_argument(
        "data", type=Path, help="class folders, YOLO (data.yaml or folder), COCO, images/ + masks/"
    )
    doctor_parser.add_argument(
        "--fix", action="store_true", help="move corrupt files and duplicate copies to the quarantine folder"
    )
    doctor_parser.add_argument(
        "--quarantine", type=Path, help="where --fix moves files (default: <data>.quarantine beside it)"
    )
    doctor_parser.add_argument("--json", type=Path, help="also write the report as JSON here")
    doctor_parser.add_argument(
        "thresholds",
        nargs="*",
        help="key=value, e.g. near_distance=6 dark_mean=15 image_size=416 (train's input size, for boxes)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    setup_logging()
    try:
        return _fit(args) if args.command == "fit" else _doctor(args)
    except AditError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RunFailed as exc:
        print(f"error: the run failed: {exc}", file=sys.stderr)
        return 1


def task_of(config_path: str | None, overrides: list[str]) -> str:
    """The ``task`` from a ``task=...`` override, else from the YAML file, else ``classify``."""
    for item in overrides:
        if item.startswith("task="):
            return item.partition("=")[2]
    if config_path and Path(config_path).is_file():
        raw = yaml.safe_load(Path(config_path).read_text()) or {}
        if isinstance(raw, dict) and "task" in raw:
            return str(raw["task"])
    return "classify"


def _fit(args: argparse.Namespace) -> int:
    name = task_of(args.config, args.overrides)
    if name not in list_tasks():
        raise ConfigError(f"{args.config or 'task='}: task {name!r} is not one of {', '.join(list_tasks())}")
    task = get_task(name)
    config = load_config(
        task.config_type, args.config, args.overrides + (["resume=true"] if args.resume else [])
    )
    if args.validate:
        print(json.dumps(config.model_dump(mode="json"), indent=2))
        return 0
    from train.engine import fit

    runs = [config]
    summary: dict[str, Any] = {}
    while runs:
        run = runs.pop(0)
        metrics = fit(run)
        runs += task.followups(run)
        if metrics:  # under torchrun only rank 0 reports
            summary[str(run.out)] = _summary(metrics)
    if summary:
        print(json.dumps(next(iter(summary.values())) if len(summary) == 1 else summary))
    return 0


def _summary(metrics: dict[str, Any]) -> dict[str, Any]:
    metric = metrics["metric"]
    keep = ("best_epoch", f"val_{metric}", "train_images_per_s", "amp")
    return {key: metrics[key] for key in keep} | {f"test_{metric}": metrics["test"]["value"]}


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
        args.json.parent.mkdir(parents=True, exist_ok=True)  # runs/<new folder>/report.json, as every output
        args.json.write_text(report.to_json())
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
