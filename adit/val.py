"""``adit val model=CKPT|BUNDLE [data=...] [split=test]``: the task's metric and per-class figures of a
checkpoint or a bundle's artifact on a split, read as training read it (the readers need torch)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from adit.data import data_overrides
from adit.model_arg import open_model
from edge_runtime.errors import AditError


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="adit val", description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="checkpoint (.pt) or bundle")
    parser.add_argument(
        "--data", help="data to evaluate on (any layout `train` reads; default: the training data)"
    )
    parser.add_argument("--split", choices=("train", "val", "test"), default="test")
    parser.add_argument("--artifact", help="bundle artifact (default: the recommended one)")
    parser.add_argument("--out", type=Path, help="also write the report as JSON here")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        from train.evaluation import evaluate
        from train.task import get_task

        predictor, training, ran = open_model(args.model, args.artifact)
        task = get_task(predictor.interface.task)
        root = None
        if args.data:
            _, overrides = data_overrides(args.data)
            root = Path(overrides[0].partition("=")[2])
        data = task.read_data(task.config_type.model_validate(training), root)
        report = evaluate(task, predictor, data.split(args.split))
    except AditError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"{args.model} ({ran}) on {args.split}, {report.samples} samples: {report.metric} {report.value:.4f}"
    )
    for name, figures in report.per_class.items():
        print(f"  {name:<24} {figures if figures is not None else 'not measured (no sample)'}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps({"model": str(args.model), "ran": ran, **report.model_dump()}, indent=2)
        )
    return 0
