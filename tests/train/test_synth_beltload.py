"""The belt video's load truth: a planned light/normal/overloaded cycle, measured per frame in its region."""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path

import numpy as np
import yaml

from train.synth.loadplan import LEVELS, plan_stretches
from train.synth.presets import PRESETS
from train.synth.video import FPS, OVERLOAD_AT, OVERLOAD_MIN_S, belt_region, video_script


def _belt_loads(data: Path) -> np.ndarray:
    with (data / "video" / "frames.csv").open() as handle:
        return np.array([float(row["belt_load"]) for row in csv.DictReader(handle)])


def test_the_plan_cycles_through_every_load_without_gaps() -> None:
    seconds = PRESETS["demo"].video_seconds
    stretches = plan_stretches(seconds)
    assert {s.kind for s in stretches} == set(LEVELS)
    assert stretches[0].start_s == 0 and stretches[-1].end_s == seconds
    assert all(a.end_s == b.start_s for a, b in itertools.pairwise(stretches))
    assert LEVELS["light"] < LEVELS["normal"] < LEVELS["overloaded"]


def test_belt_load_truth_varies_and_its_overloads_are_measured_runs(tiny_data: Path) -> None:
    loads = _belt_loads(tiny_data)
    assert len(loads) == round(PRESETS["tiny"].video_seconds * FPS)
    assert ((0 <= loads) & (loads <= 1)).all()
    assert loads.min() < 0.7 and loads.max() > OVERLOAD_AT  # a normal stretch, then the overload
    truth = [json.loads(line) for line in (tiny_data / "video" / "belt_truth.jsonl").read_text().splitlines()]
    assert truth, "the tiny video's plan carries one overload"
    for item in truth:
        assert (item["type"], item["label"]) == ("belt_overload", "overload")
        span = slice(item["start_frame"], item["end_frame"] + 1)
        assert (loads[span] >= OVERLOAD_AT).all()
        assert item["end_frame"] - item["start_frame"] + 1 >= OVERLOAD_MIN_S * FPS


def test_the_region_is_the_videos_belt_and_the_demo_site_uses_it(tiny_data: Path) -> None:
    region = json.loads((tiny_data / "video" / "belt_region.json").read_text())["region"]
    view = video_script(0, PRESETS["demo"].video_seconds).view  # the demo's camera is the tiny one's (seed 0)
    assert region == [list(point) for point in belt_region(view)]
    assert all(0 <= v <= 1 for point in region for v in point)
    site = yaml.safe_load((Path(__file__).parents[2] / "configs" / "site-belt-demo.yaml").read_text())
    assert site["belt_load"]["region"] == region
