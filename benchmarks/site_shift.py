"""A shifted site before adaptation: the deployed model's accuracy and drift statistic, original vs shifted.

``python -m benchmarks.site_shift --bundle B --data DATA/classify --out DIR``

The shifted site is the held-out split seen through another site's camera: less light, more dust haze, a
warmer lamp, a belt of another colour cast and the camera turned a few degrees (``shift``, seeded per
image). For the original and the shifted split: top-1 of the bundle's shipped artifact (through
edge_runtime, as the daemon runs it) and each statistic's PSI against a reference measured on the
``val`` split, with the verdict the daemon's default thresholds would give. Retraining on the shifted
site (hard-example vs random labels, forgetting) needs the workstation's task engine and is not here.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_runtime.bundle import load_bundle
from edge_runtime.cli_types import non_negative_int
from edge_runtime.model import BundleModel
from edge_runtime.postprocess import Classification, Prediction
from edge_runtime.preprocess import read_image
from edge_runtime.siteloop.config import DriftConfig
from edge_runtime.siteloop.drift import confidence_of
from edge_runtime.siteloop.framestats import STATISTICS, ReferenceStats, Statistic, image_statistics
from edge_runtime.siteloop.reference import copy_with_reference, image_files


def shift(image: np.ndarray, rng: np.random.Generator, severity: float = 1.0) -> np.ndarray:
    """Another site's camera: 0.5-0.65 of the light, 0.2-0.35 dust haze, warm cast, turned 4-8 degrees;
    ``severity`` above 1 dims, hazes, tints and turns further and blurs (dust on the lens)."""
    return shift_with_turn(image, rng, severity)[0]


def shift_with_turn(
    image: np.ndarray, rng: np.random.Generator, severity: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """``shift``'s image and the 2x3 affine map it turned the frame by (boxes move with it)."""
    height, width = image.shape[:2]
    angle = float(rng.uniform(4, 8) * severity * rng.choice([-1, 1]))
    turn = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.08)  # zoomed: no black corners
    turned = cv2.warpAffine(image, turn, (width, height), borderMode=cv2.BORDER_REFLECT)
    out: np.ndarray = turned.astype(np.float32)
    out *= rng.uniform(0.5, 0.65) ** severity
    out *= np.array([0.8, 0.95, 1.15], np.float32) ** severity  # BGR: a sodium-warm lamp, a brownish belt
    haze = min(0.8, rng.uniform(0.2, 0.35) * severity)
    out = out * (1 - haze) + haze * 90.0
    if severity > 1:
        out = cv2.GaussianBlur(out, (0, 0), 1.5 * (severity - 1))
    return np.clip(out, 0, 255).astype(np.uint8), turn


def evaluate(
    model: BundleModel, images: list[tuple[np.ndarray, str]], reference: ReferenceStats
) -> dict[str, Any]:
    """Top-1 (and the images it got wrong) and each statistic's PSI (over all the images, as one window)
    against the reference."""
    found = [answer(model, image) for image, _ in images]
    wrong = [
        index
        for index, ((_, label), prediction) in enumerate(zip(images, found, strict=True))
        if not (isinstance(prediction, Classification) and prediction.label == label)
    ]
    return {
        "images": len(images),
        "top1": round(1 - len(wrong) / len(images), 4),
        "wrong": wrong,  # which images: two models on the same images are compared image by image
        **drift([image for image, _ in images], found, reference),
    }


def answer(model: BundleModel, image: np.ndarray) -> Prediction:
    """The model's answer on one frame, through edge_runtime's own pre- and post-processing."""
    return model.postprocess(model.infer(model.prepare([image])), [image.shape[:2]])[0]


def drift(images: list[np.ndarray], found: list[Prediction], reference: ReferenceStats) -> dict[str, Any]:
    """Each statistic's PSI over ``images`` and the model's answers on them (one window, as the daemon
    would see them) against the reference, and the statistics the daemon's default would raise."""
    samples: dict[Statistic, list[float]] = {name: [] for name in STATISTICS}
    for image, prediction in zip(images, found, strict=True):
        for name, value in image_statistics(image, reference.thumbnail).items():
            samples[name].append(value)
        confidence = confidence_of(prediction)
        if confidence is not None:
            samples["confidence"].append(confidence)
    psi = {}
    for statistic, values in samples.items():
        distribution = reference.distribution(statistic)
        if distribution is not None:
            psi[statistic] = round(distribution.psi(values), 3)
    raised = sorted(name for name, value in psi.items() if value >= DriftConfig().raise_above)
    return {"psi": psi, "drift_raised": raised}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.site_shift", description=__doc__)
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--artifact")
    parser.add_argument("--data", type=Path, required=True, help="class-folder root with val/ and test/")
    parser.add_argument("--seed", type=non_negative_int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="site-shift-"))
    try:
        val = image_files(args.data / "val")
        bundle, reference = copy_with_reference(args.bundle, scratch, val, args.artifact)
        model = BundleModel(load_bundle(bundle), args.artifact)
        rng = np.random.default_rng(args.seed)
        test = [(read_image(path), path.parent.name) for path in image_files(args.data / "test")]
        results = {
            "artifact": model.artifact.key,
            "reference": reference.source,
            "original": evaluate(model, test, reference),
            "shifted": evaluate(model, [(shift(image, rng), label) for image, label in test], reference),
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "site_shift.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
