"""Bearing faults at an unseen motor load: each input representation, both directions, several seeds.

``python -m benchmarks.vibration_loads --data ../shared/data/cwru_bearing_12k_de --out runs/signal/loads
[--seeds 0 1 2] [--pairs 0:1 1:0] [--features waveform spectrum order_spectrum envelope_spectrum]``

Each cell is one ``python -m train fit`` of ``configs/train-signal-cwru-orders.yaml`` (the waveform
baseline: ``configs/train-signal-cwru-1d.yaml``) on the source load, with its transfer follow-ups on
the target load: k=0 (the source model, no target label) and k=5 labelled target windows per class.
Every figure is the top-1 on the target load's held-out test segments. A class the source load has no
recording of (CWRU's 1 HP has no ``normal``) cannot be predicted without labels, so k=0 is also given
over the classes the source trained on ("seen"). Writes ``OUT/vibration_loads.json`` and prints a table.

``--centroid`` trains nothing: each class's mean feature vector on the source load's training segments,
the nearest mean for each target test window (seconds of CPU). It measures how far the representation
itself carries a class to the other load, before any network.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from statistics import mean

import numpy as np

from edge_runtime.cli_types import non_negative_int
from edge_runtime.signal import SignalSpec, features
from train.__main__ import main as train_main
from train.signal.readers import read_cwru
from train.signal.split import split_windows

CENTROID_SPECS = {
    "spectrum": {"representation": "spectrum", "bins": 1024},
    "order_spectrum": {"representation": "order_spectrum", "orders": (0.5, 180.0), "bins": 1024},
    "envelope_spectrum": {"representation": "envelope_spectrum", "orders": (0.5, 30.0), "bins": 512},
    "spectrum_envelope": {"representation": "spectrum_envelope", "orders": (0.5, 30.0), "bins": 1024},
}
CONFIGS = {"waveform": "configs/train-signal-cwru-1d.yaml"}
ORDERS = "configs/train-signal-cwru-orders.yaml"
FEATURES = {
    "waveform": [],
    "spectrum": ["features.representation=spectrum", "features.bins=1024"],
    "order_spectrum": ["features.representation=order_spectrum", "features.orders=[0.5,180]"],
    "envelope_spectrum": [
        "features.representation=envelope_spectrum",
        "features.orders=[0.5,30]",
        "features.bins=512",
    ],
    "spectrum_envelope": [],  # the orders config as it is
}


def run_cell(data: Path, out: Path, feature: str, source: int, target: int, seed: int) -> Path:
    run = out / f"{feature}-{source}to{target}-s{seed}"
    if not (run / "target_k5" / "metrics.json").is_file():
        args = [
            "fit", "--config", CONFIGS.get(feature, ORDERS), f"out={run}", f"seed={seed}",
            f"data.root={data}",
            f"data.loads=[{source}]", f"transfer.load={target}", "transfer.shots=[0,5]", *FEATURES[feature],
        ]  # fmt: skip
        if train_main(args) != 0:
            raise SystemExit(f"training failed: {' '.join(args)}")
    return run


def scores(run: Path) -> dict[str, float]:
    """Target top-1 at k=0 (all classes, and the classes the source trained on) and at k=5."""
    source = json.loads((run / "metrics.json").read_text())["test"]
    seen = [i for i, row in enumerate(source["confusion"]) if sum(row)]
    k0 = json.loads((run / "target_k0" / "metrics.json").read_text())["test"]
    k5 = json.loads((run / "target_k5" / "metrics.json").read_text())["test"]
    confusion = np.array(k0["confusion"])
    seen_rows = confusion[[i for i in seen if confusion[i].sum()]]
    return {
        "source_test": source["value"],
        "k0": k0["value"],
        "k0_seen": float(np.trace(confusion[np.ix_(seen, seen)]) / seen_rows.sum()),
        "k5": k5["value"],
    }


def centroid_accuracy(data: Path, feature: str, source: int, target: int) -> float:
    """Nearest class mean of the source training windows, on the target test windows of source classes."""
    recordings = read_cwru(data)
    classes = sorted({r.label for r in recordings})
    spec = SignalSpec(sampling_rate=12_000.0, window=2048, hop=512, **CENTROID_SPECS[feature])

    def split(load: int, part: str) -> tuple[np.ndarray, np.ndarray]:
        cut = split_windows([r for r in recordings if r.load == load], classes, 2048, 512, (0.6, 0.2, 0.2))
        return features(cut[part].x, spec, cut[part].rpm).reshape(len(cut[part]), -1), cut[part].y

    (a, ya), (b, yb) = split(source, "train"), split(target, "test")
    seen = np.unique(ya)
    centroids = np.stack([a[ya == c].mean(axis=0) for c in seen])
    keep = np.isin(yb, seen)
    nearest = seen[((b[keep][:, None] - centroids[None]) ** 2).sum(axis=-1).argmin(axis=1)]
    return float((nearest == yb[keep]).mean())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.vibration_loads", description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="the CWRU 12k drive-end folder")
    parser.add_argument("--out", type=Path, default=Path("runs/signal/loads"))
    parser.add_argument("--seeds", type=non_negative_int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--pairs", nargs="+", default=["0:1", "1:0"], help="source:target loads")
    parser.add_argument("--features", nargs="+", default=list(FEATURES), choices=list(FEATURES))
    parser.add_argument("--centroid", action="store_true", help="nearest class mean only, no training")
    args = parser.parse_args(argv)
    if not (args.data / "manifest.csv").is_file():
        print(f"error: --data {args.data}: no manifest.csv (the CWRU data folder)")
        return 2
    if args.centroid:
        print("| feature | " + " | ".join(p.replace(":", " -> ") for p in args.pairs) + " |")
        print("|---|" + "---|" * len(args.pairs))
        for feature in (f for f in args.features if f in CENTROID_SPECS):
            pairs = [tuple(int(x) for x in p.split(":")) for p in args.pairs]
            row = [f"{100 * centroid_accuracy(args.data, feature, s, t):.1f}" for s, t in pairs]
            print(f"| {feature} | " + " | ".join(row) + " |")
        return 0
    table: dict[str, dict[str, list[dict[str, float]]]] = {}
    for feature in args.features:
        for pair in args.pairs:
            source, target = (int(x) for x in pair.split(":"))
            cells = [scores(run_cell(args.data, args.out, feature, source, target, s)) for s in args.seeds]
            table.setdefault(feature, {})[pair] = cells
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "vibration_loads.json").write_text(json.dumps(table, indent=2))
    print("| feature | source -> target | k=0 all | k=0 seen classes | k=5 | source test |")
    print("|---|---|---|---|---|---|")
    for feature, pairs in table.items():
        for pair, cells in pairs.items():
            figures = [_spread([c[key] for c in cells]) for key in ("k0", "k0_seen", "k5", "source_test")]
            print(f"| {feature} | {pair.replace(':', ' -> ')} | " + " | ".join(figures) + " |")
    return 0


def _spread(values: list[float]) -> str:
    """Mean (min-max) in percent over the seeds."""
    return f"{100 * mean(values):.1f} ({100 * min(values):.1f}-{100 * max(values):.1f})"


if __name__ == "__main__":
    raise SystemExit(main())
