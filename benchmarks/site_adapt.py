"""One round of adaptation to a shifted site: hard-example vs random labels, forgetting, drift.

``python -m benchmarks.site_adapt --bundle B --data DATA --out DIR [--labels 100] [--severity 1.6]
[--runs hard,random,all[,balanced]] [--random-draws 1] [--set site.replay=0.5 ...]``

The new site is the data seen through another site's camera (``site_shift.shift``): its pool is the
training split shifted (the frames the device would capture), its test the test split shifted with
another seed. The deployed bundle (its checkpoint must be where its provenance says) is measured on both
tests; then retraining runs start from its checkpoint (``init_from``) with the retraining recipe
(``site``'s defaults, or ``--set``): ``hard``, the 100 pool frames with the smallest top-1 minus top-2
margin (the device's ``margin`` capture and the default ``siteloop export --budget`` pick choose the same
frames whenever the capture kept at least 100); ``random``, 100 chosen at random, once per
``--random-draws`` seeded draw (each draw reported, and their mean and spread); ``all``, the whole pool
(the "all labels" model the gap is measured against); and, only when asked, ``balanced``: 100 chosen by
the device's own code with the opt-in ``--pick balanced`` (its capture, then ``siteloop.pick``). Each
is exported (ONNX FP32, as the deployed model is measured here) and measured on the site's test and the
original test (forgetting, with the images it lost and gained against the deployed model). Drift: each
statistic's PSI of the original and the shifted test against the deployed bundle's reference. A
detector bundle (``--data`` its YOLO data) runs the same round in mAP@0.5 (``site_adapt_detect``; its
``hard`` is the labelling pick's ``detection_margin``: the box nearest to the score filter).

Measured on the generated shifted site (docs/results/site-shift.md): ``hard`` 84.9 %, ``random`` 83.9 %
(mean of two draws), ``balanced`` 74.6 %; the detector: see site-shift.md (its "hard" ranking changed).
"""

from __future__ import annotations

import argparse
import json
import logging
from math import sqrt
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from benchmarks import site_adapt_detect as detect
from benchmarks.site_shift import answer, drift, evaluate, shift
from edge_runtime.bundle import Bundle, load_bundle
from edge_runtime.cli_types import non_negative_float, non_negative_int, positive_int
from edge_runtime.errors import ConfigError
from edge_runtime.model import BundleModel, load_model
from edge_runtime.phash import phash
from edge_runtime.postprocess import Classification
from edge_runtime.preprocess import read_image
from edge_runtime.siteloop.config import CaptureConfig
from edge_runtime.siteloop.framestats import ReferenceStats
from edge_runtime.siteloop.pick import Candidate, pick
from edge_runtime.siteloop.reference import image_files
from edge_runtime.siteloop.select import HardExampleSelector, margin_of
from edge_runtime.yamlconfig import apply_overrides
from export.build import ExportRequest, export_bundle
from train.checkpoint import read_checkpoint
from train.engine import fit
from train.task import get_task

ARTIFACT = "onnx-fp32"
Labelled = list[tuple[np.ndarray, str]]


def _read(folder: Path) -> Labelled:
    return [(read_image(path), path.parent.name) for path in image_files(folder)]


def _write(images: Labelled, folder: Path) -> Path:
    for i, (image, label) in enumerate(images):
        (folder / label).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / label / f"{i:05d}.png"), image)
    return folder


def predictions(model: BundleModel, images: Labelled) -> list[Classification]:
    """The deployed model's answer on each frame, as the device's capture sees it."""
    found = []
    for image, _ in images:
        prediction = answer(model, image)
        if not isinstance(prediction, Classification):
            raise ConfigError("site_adapt measures classifiers only")
        found.append(prediction)
    return found


def margins(found: list[Classification]) -> np.ndarray:
    """Top-1 minus top-2 probability per frame: what the device's ``margin`` capture ranks by."""
    return np.asarray([margin_of(p) for p in found])


def device_pick(found: list[Classification], images: Labelled, budget: int, name: str) -> np.ndarray:
    """The frames the device would have labelled with the pick called ``name``: those its capture keeps
    (the ``margin`` reason at the default ``margin_below``, rate limit aside), then ``budget`` of them as
    ``siteloop export --budget N --pick NAME`` picks them."""
    selector = HardExampleSelector(CaptureConfig(flicker=False), [], [])
    kept = [i for i, p in enumerate(found) if "margin" in selector.reasons("site", p)]
    candidates = [Candidate(margin_of(found[i]), found[i].label, phash(images[i][0])) for i in kept]
    return np.asarray([kept[j] for j in pick(name, candidates, budget)], dtype=int)


def retrain(bundle: Path, labels: Path, out: Path, site_test: Path, overrides: list[str]) -> Path:
    """The deployed model trained on ``labels`` plus the replay share, exported; the new bundle.

    The run's configuration is the deployed model's own with ``init_from`` and ``site`` added (the
    retraining recipe is ``site``'s defaults), then ``overrides`` (``key=value``, as ``train fit`` takes)."""
    manifest = load_bundle(bundle).manifest
    base = read_checkpoint(Path(manifest.provenance["checkpoint"])).meta.config
    task = get_task(base["task"])
    update = {"out": str(out), "init": None, "resume": False, "init_from": str(bundle)}
    raw = apply_overrides({**base, **update, "site": {"data": str(labels)}}, overrides)
    config = task.config_type.model_validate(raw)
    fit(config)
    request = ExportRequest(out / "best.pt", out / "bundle", formats=(ARTIFACT,), site_data=site_test)
    return export_bundle(request).root


RUNS = ("hard", "random", "all", "balanced")


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.site_adapt", description=__doc__)
    parser.add_argument("--bundle", type=Path, required=True, help="the deployed bundle (with its reference)")
    parser.add_argument(
        "--data", type=Path, required=True, help="class folders with train/, val/, test/ (a detector: YOLO)"
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--labels", type=positive_int, default=100, help="frames labelled in the round")
    parser.add_argument(
        "--runs",
        default="hard,random,all",
        help="which retrainings, comma-separated: hard (the smallest margins), random, all, balanced "
        "(the device's opt-in class-balanced pick, classifiers)",
    )
    parser.add_argument(
        "--random-draws",
        type=positive_int,
        default=1,
        help="seeded random selections, each retrained (the goal compares hard with their mean)",
    )
    parser.add_argument(
        "--first-draw",
        type=non_negative_int,
        default=0,
        help="the first random draw's number (draws first..first+N-1: a round split over several runs)",
    )
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        dest="overrides",
        metavar="KEY=VALUE",
        help="retraining settings over the deployed run's own and site's defaults, e.g. site.replay=0.5",
    )
    parser.add_argument(
        "--severity", type=non_negative_float, default=1.6, help="how far the new site's camera is off"
    )
    parser.add_argument("--seed", type=non_negative_int, default=0)
    parser.add_argument(
        "--threads", type=positive_int, default=None, help="inference threads (default: ORT's)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    cli = parser()
    args = cli.parse_args(argv)
    unknown = set(args.runs.split(",")) - set(RUNS)
    if unknown:
        cli.error(f"--runs: unknown {sorted(unknown)}; choose among {', '.join(RUNS)}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    deployed = load_bundle(args.bundle)
    args.out.mkdir(parents=True, exist_ok=True)
    site_round = detection_round if deployed.manifest.task == "detect" else classification_round
    results = site_round(args, deployed)
    if all(name in results for name in ("hard", "random", "all")):
        results["goals"] = goals(results)
    (args.out / "site_adapt.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 0


def _results(args: argparse.Namespace, metric: str, pool: int, deployed: dict[str, Any]) -> dict[str, Any]:
    """What every round reports before its retrainings: the settings and the deployed model's figures."""
    settings = {key: str(value) for key, value in vars(args).items()}
    return {"settings": settings, "metric": metric, "pool": pool, "deployed": deployed}


def random_draws(seed: int, pool: int, labels: int, draws: range) -> dict[int, np.ndarray]:
    """Seeded random selections by number; draw 0 is the single draw earlier rounds made."""
    return {
        k: np.random.default_rng(seed if k == 0 else [seed, k]).choice(pool, labels, replace=False)
        for k in draws
    }


def _chosen(
    args: argparse.Namespace, hardness: np.ndarray, picks: dict[str, np.ndarray]
) -> list[tuple[str, np.ndarray]]:
    """(run, frames it labels) for each run asked: ``hard`` the lowest ``hardness`` over the pool,
    ``random`` each draw (``random-0``...), ``all`` the pool, any other its entry of ``picks``."""
    jobs: list[tuple[str, np.ndarray]] = []
    for name in args.runs.split(","):
        if name == "hard":
            jobs.append((name, np.argsort(hardness, kind="stable")[: args.labels]))
        elif name == "random":
            numbers = range(args.first_draw, args.first_draw + args.random_draws)
            draws = random_draws(args.seed, len(hardness), args.labels, numbers)
            jobs += [(f"random-{k}", picked) for k, picked in draws.items()]
        elif name == "all":
            jobs.append((name, np.arange(len(hardness))))
        else:
            jobs.append((name, picks[name]))
    return jobs


def summarise_draws(results: dict[str, Any]) -> None:
    """``random-0``, ``random-1``... folded into ``random``: each draw, and the mean and spread of the
    figures (``site`` and ``original`` are the means, so readers of one draw's figures read the mean)."""
    names = sorted((k for k in results if k.startswith("random-")), key=lambda k: int(k.split("-")[1]))
    if not names:
        return
    draws = [{"draw": int(name.split("-")[1]), **results.pop(name)} for name in names]
    summary: dict[str, Any] = {"labels": draws[0]["labels"], "draws": draws}
    for figure in ("site", "original"):
        values = np.asarray([d[figure] for d in draws])
        summary[figure] = round(float(values.mean()), 4)
        summary[f"{figure}_sd"] = round(float(values.std(ddof=1)), 4) if len(values) > 1 else None
        summary[f"{figure}_range"] = [float(values.min()), float(values.max())]
    results["random"] = summary


def _model(args: argparse.Namespace, bundle: Bundle) -> BundleModel:
    """The bundle's ONNX FP32 model, on ``--threads`` (a shared machine: 1 keeps its threads from waiting
    on each other; the figures do not depend on it)."""
    return load_model(bundle, ARTIFACT, threads=args.threads)


def _reference(args: argparse.Namespace, deployed: Bundle) -> ReferenceStats:
    """The deployed bundle's drift reference, which both rounds measure the two test splits against."""
    if deployed.manifest.reference is None:
        raise ConfigError(f"{args.bundle}: no reference statistics (export it again, or siteloop reference)")
    return deployed.manifest.reference


def classification_round(args: argparse.Namespace, deployed: Bundle) -> dict[str, Any]:
    reference = _reference(args, deployed)
    original = _read(args.data / "test")
    pool = [
        (shift(image, np.random.default_rng([args.seed, 1, i]), args.severity), label)
        for i, (image, label) in enumerate(_read(args.data / "train"))
    ]
    site = [
        (shift(image, np.random.default_rng([args.seed, 2, i]), args.severity), label)
        for i, (image, label) in enumerate(original)
    ]
    site_test = _write(site, args.out / "site-test")
    model = _model(args, deployed)
    figures = {"site": evaluate(model, site, reference), "original": evaluate(model, original, reference)}
    results = _results(args, "top1", len(pool), figures)
    found = predictions(model, pool)
    hardness = margins(found)
    results["captured"] = int(sum(hardness < CaptureConfig().margin_below))
    balanced = "balanced" in args.runs.split(",")
    picks = {"balanced": device_pick(found, pool, args.labels, "balanced")} if balanced else {}
    for name, picked in _chosen(args, hardness, picks):
        labels = _write([pool[i] for i in sorted(picked)], args.out / f"labels-{name}")
        bundle = retrain(args.bundle, labels, args.out / f"run-{name}", site_test, args.overrides)
        adapted = _model(args, load_bundle(bundle))
        results[name] = {
            "labels": len(picked),
            "classes": {c: int(sum(pool[i][1] == c for i in picked)) for c in deployed.manifest.classes},
            "site": evaluate(adapted, site, reference)["top1"],
        }
        kept = evaluate(adapted, original, reference)
        results[name]["original"] = kept["top1"]
        results[name]["original_changed"] = changed(results["deployed"]["original"]["wrong"], kept["wrong"])
        print(json.dumps({name: results[name]}), flush=True)
    summarise_draws(results)
    return results


def detection_round(args: argparse.Namespace, deployed: Bundle) -> dict[str, Any]:
    """The same round for a detector (``site_adapt_detect``): YOLO data in, mAP@0.5 out."""
    if "balanced" in args.runs.split(","):
        raise ConfigError("--runs balanced: a classifier's run (the pick reads classification margins)")
    classes = deployed.manifest.classes
    original = detect.read_split(args.data, "test", classes)
    pool = [
        detect.shifted(f, np.random.default_rng([args.seed, 1, i]), args.severity)
        for i, f in enumerate(detect.read_split(args.data, "train", classes))
    ]
    site = [
        detect.shifted(f, np.random.default_rng([args.seed, 2, i]), args.severity)
        for i, f in enumerate(original)
    ]
    site_test = detect.write_yolo(site, args.out / "site-test", classes)
    original_test = detect.write_yolo(original, args.out / "original-test", classes)
    model = _model(args, deployed)
    reference, figures = _reference(args, deployed), {}
    for name, frames, folder in (("site", site, site_test), ("original", original, original_test)):
        images = [frame.image for frame in frames]  # drift: the frames as one window, as for classifiers
        found = [answer(model, image) for image in images]
        figures[name] = {"map50": detect.map50(model, folder), **drift(images, found, reference)}
    results = _results(args, "map50", len(pool), figures)
    print(json.dumps({"deployed": results["deployed"]}), flush=True)
    nearness = detect.nearness(model, pool)
    for name, picked in _chosen(args, nearness, {}):
        labels = detect.write_yolo([pool[i] for i in sorted(picked)], args.out / f"labels-{name}", classes)
        bundle = retrain(args.bundle, labels, args.out / f"run-{name}", site_test, args.overrides)
        adapted = _model(args, load_bundle(bundle))
        results[name] = {
            "labels": len(picked),
            "boxes": int(sum(len(pool[i].boxes) for i in picked)),
            "site": detect.map50(adapted, site_test),
            "original": detect.map50(adapted, original_test),
        }
        print(json.dumps({name: results[name]}), flush=True)
    summarise_draws(results)
    return results


def changed(before: list[int], after: list[int]) -> dict[str, int]:
    """Images the adapted model got wrong that the deployed one got right (``lost``), and the reverse:
    forgetting is their difference, and their sum says how much of it one run's luck could be."""
    return {"lost": len(set(after) - set(before)), "gained": len(set(before) - set(after))}


def _pp(share: float | None) -> float | None:
    return None if share is None else round(100 * share, 2)


def goals(results: dict[str, Any]) -> dict[str, Any]:
    """The issue's goals, each with the figure that decides it."""
    metric = results["metric"]
    before = results["deployed"]["site"][metric]
    gap = results["all"]["site"] - before
    closed = (results["hard"]["site"] - before) / gap if gap > 0 else None
    lead_pp = 100 * (results["hard"]["site"] - results["random"]["site"])  # random: the draws' mean
    forgetting_pp = 100 * (results["deployed"]["original"][metric] - results["hard"]["original"])
    # the paired difference's standard error: sqrt(lost + gained) images of the test split
    flips = results["hard"].get("original_changed")
    images = results["deployed"]["original"].get("images")
    raised = results["deployed"]["site"].get("drift_raised")
    quiet = not results["deployed"]["original"].get("drift_raised")
    return {
        "metric": metric,
        "gap_closed": None if closed is None else round(closed, 3),
        "gap_closed_met": closed is not None and closed >= 0.8,
        "hard_minus_random_pp": round(lead_pp, 2),
        "hard_beats_random_met": lead_pp >= 5,
        "random_draws": len(results["random"].get("draws", [])) or 1,
        "random_site_sd_pp": _pp(results["random"].get("site_sd")),
        "forgetting_pp": round(forgetting_pp, 2),
        "forgetting_met": forgetting_pp <= 1,
        "forgetting_se_pp": round(100 * sqrt(sum(flips.values())) / images, 2) if flips and images else None,
        "drift_met": None if raised is None else bool(raised) and quiet,
    }


if __name__ == "__main__":
    raise SystemExit(main())
