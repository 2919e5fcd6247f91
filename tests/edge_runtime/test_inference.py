"""The inference stage collects finished batches in the order they were submitted."""

from __future__ import annotations

import time

import numpy as np

from edge_runtime.bundle import load_bundle
from edge_runtime.config.rules import RuleConfig
from edge_runtime.inference import Pipeline
from edge_runtime.live import LatestFrames
from edge_runtime.model import BundleModel
from edge_runtime.rules import RuleSet
from edge_runtime.sources import Frame
from edge_runtime.timing import StageTimers


def _frame(index: int, bgr: tuple[int, int, int]) -> Frame:
    return Frame("cam1", index, time.time(), index / 10, np.full((48, 64, 3), bgr, np.uint8))


def test_a_batch_that_finishes_first_waits_for_the_one_submitted_before_it(tiny_bundle):
    model = BundleModel(load_bundle(tiny_bundle), "openvino-fp32")
    started: list[tuple[np.ndarray, object]] = []
    model.start = lambda batch, done, _failed: started.append((batch, done))  # finished when told
    live = LatestFrames()
    rule = RuleConfig(name="red", labels=["red"], min_score=0.6, debounce={"hits": 1, "window": 1})
    pipeline = Pipeline(model, RuleSet([rule]), [], StageTimers(), live=live)
    pipeline.submit([_frame(0, (0, 0, 255))])  # red: starts the event
    pipeline.submit([_frame(1, (0, 255, 0))])  # green: ends it
    assert pipeline.in_flight == 2
    second_batch, finish_second = started[1]
    finish_second(model.infer(second_batch))
    assert pipeline.collect() == [] and live.get("cam1") is None  # frame 1 waits for frame 0
    first_batch, finish_first = started[0]
    finish_first(model.infer(first_batch))
    events = pipeline.collect()
    assert [(e.phase, e.frame) for e in events] == [("start", 0), ("end", 1)]
    assert live.get("cam1").frame.index == 1 and pipeline.in_flight == 0 and pipeline.frames == 2
