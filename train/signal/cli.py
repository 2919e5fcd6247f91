"""``python -m train signal --config configs/train-signal-cwru.yaml [key=value ...]``"""

from __future__ import annotations

import json
import sys

from edge_runtime.errors import AditError
from edge_runtime.logs import setup_logging
from edge_runtime.yamlconfig import load_config
from train.signal.config import SignalTrainConfig


def run_signal(config_path: str | None, overrides: list[str]) -> int:
    setup_logging()
    try:
        config = load_config(SignalTrainConfig, config_path, overrides)
        from train.signal.engine import fit_signal  # torch loads only when training really starts

        report = fit_signal(config)
    except AditError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    summary = {"within_load": report["within_load"]["accuracy"]} | {
        f"cross_load_k{k}": r["accuracy"] for k, r in report["cross_load"].items()
    }
    print(json.dumps(summary))
    return 0
