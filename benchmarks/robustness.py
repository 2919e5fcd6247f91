"""``python -m benchmarks.robustness --bundle B --data D/test``: accuracy under underground corruptions.

Every artifact of the bundle (FP32 and INT8 side by side) classifies the held-out split clean and
under each corruption of ``benchmarks.corruptions`` at each severity, through the edge runtime's own
preprocessing and backends. The question a site asks: did quantization make the model more fragile?
The answer is the INT8 - FP32 difference per row, not the absolute accuracy (synthetic data).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from benchmarks.corruptions import SEVERITIES, corrupt, list_corruptions
from edge_runtime.backends import BackendOptions
from edge_runtime.bundle import load_bundle
from edge_runtime.model import BundleModel
from edge_runtime.preprocess import read_image

BATCH = 32


def held_out(split: Path, classes: list[str]) -> tuple[list[np.ndarray], list[int]]:
    """The split's images as ``split/<class>/<image>``, in class then name order."""
    images, labels = [], []
    for index, name in enumerate(classes):
        for path in sorted((split / name).glob("*")):
            if path.is_file():
                images.append(read_image(path))
                labels.append(index)
    if not images:
        raise SystemExit(f"{split}: no images in class folders {classes}")
    return images, labels


def accuracy(model: BundleModel, images: list[np.ndarray], labels: list[int]) -> float:
    correct = 0
    for first in range(0, len(images), BATCH):
        chunk = images[first : first + BATCH]
        predictions = model.classify(chunk)
        correct += sum(p.index == y for p, y in zip(predictions, labels[first : first + BATCH], strict=True))
    return correct / len(images)


def run_robustness(bundle_path: Path, split: Path, artifacts: list[str] | None) -> dict:
    bundle = load_bundle(bundle_path)
    keys = artifacts or [
        a.key for a in bundle.manifest.artifacts if a.status == "shipped" and a.precision != "fp16"
    ]
    images, labels = held_out(split, bundle.manifest.classes)
    conditions = [("clean", 0)] + [(name, s) for name in list_corruptions() for s in SEVERITIES]
    variants = {
        (name, severity): images
        if name == "clean"
        else [corrupt(image, name, severity, seed=i) for i, image in enumerate(images)]
        for name, severity in conditions
    }
    rows: dict[str, dict[str, float]] = {f"{n}/{s}" if s else n: {} for n, s in conditions}
    for key in keys:
        model = BundleModel(bundle, key, options=BackendOptions())
        for (name, severity), pictures in variants.items():
            rows[f"{name}/{severity}" if severity else name][key] = round(
                accuracy(model, pictures, labels), 4
            )
    return {
        "bundle": str(bundle_path),
        "split": str(split),
        "images": len(images),
        "artifacts": keys,
        "top1": rows,
    }


def table(result: dict) -> str:
    keys = result["artifacts"]
    fp32 = next((k for k in keys if k.endswith("fp32")), None)
    header = f"| condition | {' | '.join(keys)} |" + (
        "".join(f" {k} - {fp32} |" for k in keys if k.endswith("int8")) if fp32 else ""
    )
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for condition, scores in result["top1"].items():
        cells = [f"{100 * scores[k]:.1f}" for k in keys]
        if fp32:
            cells += [f"{100 * (scores[k] - scores[fp32]):+.1f}" for k in keys if k.endswith("int8")]
        lines.append(f"| {condition} | {' | '.join(cells)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.robustness", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--bundle", type=Path, default=Path("runs/demo/bundle"))
    parser.add_argument(
        "--data", type=Path, default=Path("runs/demo/data/classify/test"), help="held-out split"
    )
    parser.add_argument(
        "--artifacts", nargs="*", help="keys, e.g. onnx-fp32 onnx-int8 (default: all but fp16)"
    )
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args(argv)
    result = run_robustness(args.bundle, args.data, args.artifacts)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
    print(f"top-1 (%) on {result['images']} held-out images of {result['split']}\n")
    print(table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
