"""``python -m train fit --config configs/train-demo.yaml [key=value ...]``"""

from __future__ import annotations

import argparse
import json
import sys

from edge_runtime.errors import AditError
from edge_runtime.logs import setup_logging
from edge_runtime.yamlconfig import load_config
from train.config import TrainConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train", description="Fine-tune a pretrained model.")
    commands = parser.add_subparsers(dest="command", required=True)
    fit_parser = commands.add_parser("fit", help="fine-tune on class folders (data.root/{train,val,test}/<class>/)")
    fit_parser.add_argument("--config", help="YAML training configuration (defaults when omitted)")
    fit_parser.add_argument("--validate", action="store_true", help="check the configuration and exit")
    fit_parser.add_argument("overrides", nargs="*", help="key=value overrides, e.g. optim.epochs=3 model.name=resnet18")
    signal_parser = commands.add_parser("signal", help="vibration fault classifier with cross-load transfer")
    signal_parser.add_argument("--config", help="YAML signal training configuration (defaults when omitted)")
    signal_parser.add_argument("overrides", nargs="*", help="key=value overrides, e.g. data.source=cwru")
    args = parser.parse_args(argv)
    if args.command == "signal":
        from train.signal.cli import run_signal

        return run_signal(args.config, args.overrides)
    setup_logging()

    try:
        config = load_config(TrainConfig, args.config, args.overrides)
        if args.validate:
            print(json.dumps(config.model_dump(mode="json"), indent=2))
            return 0
        from train.engine import fit  # torch loads only when training really starts

        metrics = fit(config)
    except AditError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({k: metrics[k] for k in ("best_epoch", "val_top1", "train_images_per_s")} | {"test_top1": metrics["test"]["top1"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
