"""The demo's truth must hold on any CPU and any training run: the rules keep a margin, not a knife edge.

Before (issue 15): ``foreign-object`` at ``min_score: 0.6``, 3 of 5, set on one training run, raised 2
false events (0.675, 0.737) on the next (trained and run on a CPU with AVX-512 and bf16). The
recorded scores (``demo_belt_scores.json``) are every frame's probabilities of the demo video from
two training runs (seeds 0 and 1, this machine: AVX-512 + bf16), as ONNX FP32, OpenVINO FP32 in
bf16 and ONNX INT8; made with ``benchmarks.rule_margin.record``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.rule_margin import Scores, classify_video, events_match, margins, perturbed, recorded
from edge_runtime.bundle import load_bundle
from edge_runtime.config import load_site_config
from edge_runtime.events import TruthEvent, read_truth

REPO = Path(__file__).parents[2]
SITE = REPO / "configs" / "site-demo.yaml"
RECORDED = Path(__file__).with_name("demo_belt_scores.json")
MARGIN = 0.1  # each min_score may move this far either way and the replay still matches the truth
PERTURBATIONS = [(0.3, 1.0), (0.0, 0.8), (0.0, 1.25), (0.2, 1.25)]  # logit noise, temperature


def test_the_band_edges_are_where_the_replay_starts_to_fail():
    """Frames 5-8 a partial view at 0.5, frames 20-40 the object at 0.9: the band is (0.51, 0.9)."""
    probabilities = np.tile([0.05, 0.95], (60, 1))
    probabilities[5:9], probabilities[20:41] = [0.5, 0.5], [0.9, 0.1]
    scores = Scores("hand-made", probabilities, ["object", "belt"], 15.0)
    truth = [TruthEvent("rod", "object", 20, 40)]
    rule = "{name: r, labels: [object], min_score: 0.7, debounce: {hits: 3, window: 5}}"
    config = load_site_config(None, [f"rules=[{rule}]"])
    assert margins(config, scores, truth) == {"r": (0.51, 0.9)}
    assert not events_match(config, perturbed(scores, 0.0, 4.0, 0), truth)  # a very soft model misses it


def test_a_real_model_is_classified_frame_by_frame(tiny_bundle, colour_video):
    rule = "{name: %s-rule, labels: [%s], min_score: 0.6, debounce: {hits: 3, window: 5}, cooldown_s: 2.0}"
    config = load_site_config(None, [f"rules=[{rule % ('red', 'red')}, {rule % ('blue', 'blue')}]"])
    scores = classify_video(tiny_bundle, colour_video.path, "openvino-fp32", "f32")
    assert scores.probabilities.shape == (colour_video.frames, 3) and scores.fps == colour_video.fps
    bands = margins(config, scores, read_truth(colour_video.truth_path))
    assert all(band is not None and band[0] < 0.6 < band[1] for band in bands.values()), bands


def test_the_demo_rules_keep_their_margin_on_two_training_runs_and_both_precisions():
    config = load_site_config(SITE)
    runs, truth = recorded(RECORDED)
    assert len(runs) == 6
    for scores in runs:
        for rule, band in margins(config, scores, truth).items():
            minimum = next(r.min_score for r in config.rules if r.name == rule)
            assert band is not None, f"{scores.name}: {rule} does not match the truth"
            assert band[0] <= minimum - MARGIN and band[1] >= minimum + MARGIN, (scores.name, rule, band)


def test_the_demo_rules_hold_when_the_model_shifts():
    """Another run or CPU shifts a model's logits: noise and a temperature must not change the events."""
    config = load_site_config(SITE)
    runs, truth = recorded(RECORDED)
    failed = [
        (scores.name, noise, temperature, seed)
        for scores in runs
        for noise, temperature in PERTURBATIONS
        for seed in range(3)
        if not events_match(config, perturbed(scores, noise, temperature, seed), truth)
    ]
    assert failed == []


def test_the_old_rule_would_have_been_caught():
    """The rule as it was (0.6, 3 of 5) fails this test's own check: the test can fail."""
    config = load_site_config(SITE, ["rules.0.min_score=0.6", "rules.0.debounce={hits: 3, window: 5}"])
    runs, truth = recorded(RECORDED)
    assert not all(events_match(config, scores, truth) for scores in runs)


DEMO = REPO / "runs" / "demo"


@pytest.mark.slow
@pytest.mark.skipif(not (DEMO / "bundle" / "manifest.json").is_file(), reason="needs `make demo` (runs/demo)")
@pytest.mark.parametrize("hint", ["f32", "bf16"])
def test_the_demo_bundle_matches_the_truth_with_every_artifact(hint):
    """The real model, every artifact; OpenVINO in f32, and in bf16 where the CPU has it."""
    config = load_site_config(SITE, [f"model.bundle={DEMO / 'bundle'}"])
    truth = read_truth(DEMO / "data" / "video" / "truth.jsonl")
    for artifact in [a.key for a in load_bundle(DEMO / "bundle").manifest.artifacts]:
        scores = classify_video(DEMO / "bundle", DEMO / "data" / "video" / "belt.avi", artifact, hint)
        assert events_match(config, scores, truth), scores.name
