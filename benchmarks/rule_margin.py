"""``python -m benchmarks.rule_margin``: how far a site's rules are from a wrong event on a video with truth.

``replay --expect`` says pass or fail for one model on one CPU. A rule whose ``min_score`` passes only
in a narrow band fails on the next training run or on a CPU that computes in bf16 (issue 15: 2 false
``foreign_object`` events at 0.675 and 0.737). This classifies every frame once per artifact and
OpenVINO precision, then, for each rule, sweeps its ``min_score`` with the other rules as configured
and reports the band in which the replay still matches the truth; the margin is the distance from
the configured value to the band's edges. It also replays with the model's logits perturbed
(seeded Gaussian noise, and a temperature), as a model from another run or CPU would shift them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_runtime.backends import BackendOptions
from edge_runtime.bundle import load_bundle
from edge_runtime.config import SiteConfig, load_site_config
from edge_runtime.events import TruthEvent, compare_events, read_truth
from edge_runtime.model import BundleModel
from edge_runtime.postprocess import Classification
from edge_runtime.replay import replay_tolerance
from edge_runtime.rules import RuleSet
from edge_runtime.sources import Frame

GRID = np.round(np.arange(0.05, 1.0, 0.01), 2)
_NO_IMAGE = np.zeros((1, 1, 3), np.uint8)


@dataclass(frozen=True)
class Scores:
    """Every frame's class probabilities from one artifact at one precision."""

    name: str  # e.g. openvino-fp32@bf16
    probabilities: np.ndarray  # (frames, classes)
    classes: list[str]
    fps: float


def classify_video(
    bundle: Path, video: Path, artifact: str, hint: str | None = None, batch: int = 16
) -> Scores:
    model = BundleModel(load_bundle(bundle), artifact, options=BackendOptions(precision_hint=hint))
    capture = cv2.VideoCapture(str(video))
    fps = capture.get(cv2.CAP_PROP_FPS) or 15.0
    frames, rows = [], []
    while True:
        ok, image = capture.read()
        if ok:
            frames.append(image)
        if frames and (not ok or len(frames) == batch):
            rows += [p.probabilities for p in model.classify(frames)]
            frames = []
        if not ok:
            break
    capture.release()
    name = f"{artifact}@{model.runtime_precision}"
    return Scores(name, np.asarray(rows, np.float64), model.manifest.classes, fps)


def perturbed(scores: Scores, noise: float, temperature: float, seed: int) -> Scores:
    """The probabilities of a model whose logits differ: scaled by 1/temperature, plus Gaussian noise."""
    logits = np.log(np.clip(scores.probabilities, 1e-12, 1.0)) / temperature
    logits = logits + np.random.default_rng(seed).normal(0.0, noise, logits.shape)
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    name = f"{scores.name}+noise{noise}/T{temperature}/seed{seed}"
    return Scores(name, shifted / shifted.sum(axis=1, keepdims=True), scores.classes, scores.fps)


def events_match(
    config: SiteConfig, scores: Scores, truth: Sequence[TruthEvent], labels: set[str] | None = None
) -> bool:
    """What ``replay --expect`` would say for these scores (the rules see exactly what the daemon feeds
    them); with ``labels``, only for the events and truth intervals of those labels."""
    camera = config.camera().name
    rules = RuleSet(config.rules)
    events = []
    for index, row in enumerate(scores.probabilities):
        top = int(row.argmax())
        prediction = Classification(top, scores.classes[top], float(row[top]), row)
        frame = Frame(camera=camera, index=index, ts=0.0, pts_s=index / scores.fps, image=_NO_IMAGE)
        events += rules.evaluate(frame, prediction)
    events += rules.close()
    if labels is not None:
        events, truth = [e for e in events if e.label in labels], [t for t in truth if t.label in labels]
    return compare_events(events, truth, replay_tolerance(config)).ok


Band = tuple[float, float] | None


def margins(config: SiteConfig, scores: Scores, truth: Sequence[TruthEvent]) -> dict[str, Band]:
    """Per rule: (lowest, highest) min_score around the configured one for which that rule's events
    match the truth of its labels; None if the configured value itself does not."""
    result: dict[str, Band] = {}
    for index, rule in enumerate(config.rules):
        labels = set(rule.labels)

        def passes(value: float, index: int = index, labels: set[str] = labels) -> bool:
            rules = list(config.rules)
            rules[index] = rules[index].model_copy(update={"min_score": float(value)})
            return events_match(config.model_copy(update={"rules": rules}), scores, truth, labels)

        if not passes(rule.min_score):
            result[rule.name] = None
            continue
        low = _edge(passes, rule.min_score, [v for v in GRID if v < rule.min_score][::-1], 0.0)
        high = _edge(passes, rule.min_score, [v for v in GRID if v > rule.min_score], 1.0)
        result[rule.name] = (low, high)
    return result


def _edge(passes: Callable[[float], bool], start: float, steps: list[float], end: float) -> float:
    """The last of ``start, *steps`` that passes before the first that does not (``end``: none fails)."""
    last = start
    for value in steps:
        if not passes(value):
            return float(last)
        last = value
    return end


def report(config: SiteConfig, runs: dict[str, dict[str, Band]]) -> str:
    head = "| rule | min_score | " + " | ".join(runs) + " | smallest margin |"
    lines = [head, "|---" * (len(runs) + 3) + "|"]
    for rule in config.rules:
        bands = [runs[name][rule.name] for name in runs]
        cells = ["FAILS" if b is None else f"{b[0]:.2f}-{b[1]:.2f}" for b in bands]
        worst = min((min(rule.min_score - b[0], b[1] - rule.min_score) for b in bands if b), default=None)
        margin = "none (fails)" if None in bands or worst is None else f"{worst:.2f}"
        lines.append(f"| {rule.name} | {rule.min_score} | " + " | ".join(cells) + f" | {margin} |")
    return "\n".join(lines)


def record(path: Path, runs: list[Scores], truth: Path) -> None:
    """Keep probabilities (per mille) and the truth as JSON: rules can be re-checked without the model."""
    first = runs[0]
    path.write_text(
        json.dumps(
            {
                "classes": first.classes,
                "fps": first.fps,
                "truth": [json.loads(line) for line in truth.read_text().splitlines() if line.strip()],
                "per_mille": {
                    run.name: np.rint(run.probabilities * 1000).astype(int).tolist() for run in runs
                },
            },
            separators=(",", ":"),
        )
    )


def recorded(path: Path) -> tuple[list[Scores], list[TruthEvent]]:
    """The runs and the truth ``record`` kept."""
    data = json.loads(path.read_text())
    classes, fps = data["classes"], data["fps"]
    runs = [Scores(name, np.asarray(rows) / 1000.0, classes, fps) for name, rows in data["per_mille"].items()]
    return runs, [TruthEvent(**item) for item in data["truth"]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.rule_margin", description="Rule margins.")
    parser.add_argument("--bundle", type=Path, default=Path("runs/demo/bundle"))
    parser.add_argument("--video", type=Path, default=Path("runs/demo/data/video/belt.avi"))
    parser.add_argument("--truth", type=Path, default=Path("runs/demo/data/video/truth.jsonl"))
    parser.add_argument("--site", type=Path, default=Path("configs/site-demo.yaml"))
    parser.add_argument("--artifacts", nargs="*", help="default: every artifact of the bundle")
    parser.add_argument("--hints", nargs="*", default=["f32", "bf16"], help="OpenVINO precisions to try")
    parser.add_argument("--out", type=Path, help="write the bands as JSON here")
    parser.add_argument("--record", type=Path, help="also keep every run's probabilities and the truth here")
    args = parser.parse_args(argv)
    config = load_site_config(args.site, [f"model.bundle={args.bundle}"])
    truth = read_truth(args.truth)
    keys = args.artifacts or [a.key for a in load_bundle(args.bundle).manifest.artifacts]
    runs, seen = {}, []
    for key in keys:
        for hint in args.hints if key.startswith("openvino") else [None]:
            scores = classify_video(args.bundle, args.video, key, hint)
            if scores.name not in runs:  # a CPU without bf16 runs the bf16 hint in f32: measured once
                runs[scores.name] = margins(config, scores, truth)
                seen.append(scores)
    print(report(config, runs))
    if args.out:
        args.out.write_text(json.dumps(runs, indent=2))
    if args.record:
        record(args.record, seen, args.truth)
    return 0


if __name__ == "__main__":
    sys.exit(main())
