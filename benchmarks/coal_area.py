"""``python -m benchmarks.coal_area --bundle B [--data ROOT]``: coal's area share on held-out photos.

The belt-load monitor's measurement is a class's share of a region. On real photos with masks (such
as ``../shared/data/coal_lump_lab``, single lumps in a lab rig, no belt) the region is the whole
image: this reports how far the bundle's coal share is from the mask's on the bundle's held-out
split (the split its training run kept out, read from the training configuration in its provenance).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from benchmarks.heldout import bundle_data
from edge_runtime.beltload import load_fraction
from edge_runtime.bundle import load_bundle
from edge_runtime.errors import AditError, ConfigError
from edge_runtime.model import BundleModel
from edge_runtime.preprocess import read_image
from train.segmentation.data import frame_mask


def coal_area(
    bundle_path: Path, label: str, artifact: str | None = None, data_root: Path | None = None
) -> dict:
    bundle = load_bundle(bundle_path)
    classes = bundle.manifest.classes
    if label not in classes:
        raise ConfigError(
            f"--label: {label!r} is not among the bundle's classes; valid: {', '.join(classes)}"
        )
    samples = bundle_data(bundle, data_root)[1].test
    model = BundleModel(bundle, artifact)
    index = classes.index(label)
    truth, estimate = [], []
    for sample in samples:
        frame = read_image(sample.path)
        whole = np.ones(frame.shape[:2], bool)
        truth.append(load_fraction(frame_mask(sample, frame.shape[:2]), whole, index))
        estimate.append(load_fraction(model.segment(frame)[0].mask, whole, index))
    error = np.array(estimate) - np.array(truth)
    return {
        "artifact": model.artifact.key,
        "images": len(samples),
        "mean_true_share": round(float(np.mean(truth)), 4),
        "mae": round(float(np.abs(error).mean()), 4),
        "mae_relative": round(float(np.abs(error).mean() / max(np.mean(truth), 1e-9)), 4),
        "p95_abs": round(float(np.percentile(np.abs(error), 95)), 4),
        "bias": round(float(error.mean()), 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.coal_area", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument(
        "--data", type=Path, help="data root (default: where the bundle's training run read it)"
    )
    parser.add_argument("--label", default="coal")
    parser.add_argument("--artifacts", nargs="*", help="default: every shipped artifact")
    args = parser.parse_args(argv)
    try:
        keys = args.artifacts or [
            a.key for a in load_bundle(args.bundle).manifest.artifacts if a.status == "shipped"
        ]
        rows = [coal_area(args.bundle, args.label, key, args.data) for key in keys]
    except AditError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
