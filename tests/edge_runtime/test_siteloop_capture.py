"""Hard-example capture: the selection tests, the rate limit, the quota (feedback pinned), and a replay."""

from __future__ import annotations

import numpy as np
from conftest import write_site

from edge_runtime.config import load_site_config
from edge_runtime.config.rules import RuleConfig
from edge_runtime.postprocess import Classification, Detection, Detections
from edge_runtime.replay import replay
from edge_runtime.siteloop.captures import BundleTag, CaptureStore, TokenBucket, read_captures
from edge_runtime.siteloop.config import CaptureConfig
from edge_runtime.siteloop.select import HardExampleSelector
from edge_runtime.sources import Frame

CLASSES = ["red", "green", "blue"]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _classified(probabilities: list[float]) -> Classification:
    p = np.asarray(probabilities, dtype=np.float32)
    return Classification(int(p.argmax()), CLASSES[int(p.argmax())], float(p.max()), p)


def test_token_bucket_allows_a_burst_then_the_rate():
    clock = Clock()
    bucket = TokenBucket(per_minute=6, burst=2, clock=clock)
    assert [bucket.take() for _ in range(3)] == [True, True, False]
    clock.now = 9.0  # 0.9 of a token
    assert not bucket.take()
    clock.now = 10.0
    assert bucket.take() and not bucket.take()


def test_selector_finds_low_margin_near_threshold_and_flicker():
    rule = RuleConfig(name="r", labels=["red"], min_score=0.6)
    selector = HardExampleSelector(
        CaptureConfig(margin_below=0.15, near_threshold=0.1, flicker=True), [rule], CLASSES
    )
    assert selector.reasons("cam", _classified([0.95, 0.03, 0.02])) == []
    assert selector.reasons("cam", _classified([0.1, 0.46, 0.44])) == ["margin"]
    assert "near_threshold" in selector.reasons("other", _classified([0.55, 0.05, 0.40]))  # red 0.55 ~ 0.6
    assert "flicker" in selector.reasons("cam", _classified([0.95, 0.03, 0.02]))  # red, green, red
    detections = Detections([Detection("red", 0.65, (0.1, 0.1, 0.2, 0.2))])
    assert selector.reasons("det", detections) == ["near_threshold"]
    # under the bundle's filter, the rules never see it; a red box at 0.55 is still 0.05 from the rule
    assert selector.reasons("det2", Detections([], below_filter=[("red", 0.55)])) == ["near_threshold"]
    assert selector.reasons("det3", Detections([], below_filter=[("red", 0.45), ("green", 0.6)])) == []


def _frame(index: int, camera: str = "cam1") -> Frame:
    image = np.full((48, 64, 3), (index * 7) % 255, np.uint8)
    return Frame(camera=camera, index=index, ts=1_700_000_000.0 + index, pts_s=index / 10, image=image)


def test_store_keeps_predictions_and_bundle_under_rate_limit_and_quota(tmp_path):
    clock = Clock()
    config = CaptureConfig(enabled=True, folder=tmp_path / "captures", per_minute=60, burst=3, quota_mb=0.005)
    store = CaptureStore(config, BundleTag("tiny", "1.2.0", "onnx-fp32"), clock=clock)
    prediction = {"task": "classify", "label": "red", "score": 0.5, "probabilities": {}}
    try:
        assert store.offer(_frame(0), ["event"], prediction, event_ids=["a" * 32])  # not rate limited
        queued = [store.offer(_frame(i), ["margin"], prediction) for i in range(1, 6)]
        assert queued == [True, True, True, False, False] and store.rate_limited == 2
        store.flush()
        assert store.pin("a" * 32) is not None and store.pin("b" * 32) is None
        for i in range(6, 40):
            clock.now += 1.0  # one token a second
            store.offer(_frame(i), ["margin"], prediction)
        store.flush()
        state = store.state()
    finally:
        store.close()
    assert store.state() == state and store.pin("a" * 32) is None  # closed: /status still answers
    again = CaptureStore(config, BundleTag("tiny", "1.3.0", "onnx-fp32"), clock=clock)  # after a restart
    try:
        assert {k: again.state()[k] for k in ("stored", "pinned", "mb")} == {
            k: state[k] for k in ("stored", "pinned", "mb")
        }
    finally:
        again.close()
    kept = list(read_captures(tmp_path / "captures"))
    assert state["mb"] * 1e6 <= 0.005 * 1024 * 1024 and state["stored"] == len(kept) < 36
    assert kept[0].event_ids == ["a" * 32] and kept[0].frame == 0  # pinned: outlived newer frames
    assert all(c.path.is_file() for c in kept)
    assert {(c.bundle.name, c.bundle.version, c.bundle.artifact) for c in kept} == {
        ("tiny", "1.2.0", "onnx-fp32")
    }
    assert len(list((tmp_path / "captures" / "images").iterdir())) == len(
        kept
    )  # deleted files leave the index too


def test_replay_captures_unsure_frames_and_event_starts(tmp_path, tiny_bundle, colour_video):
    site = write_site(tmp_path / "site.yaml", tiny_bundle, colour_video.path, tmp_path / "events.jsonl")
    config = load_site_config(
        site,
        [
            "site_loop.capture.enabled=true",
            f"site_loop.capture.folder={tmp_path / 'cap'}",
            "site_loop.capture.per_minute=600",
            "site_loop.capture.burst=100",
            "site_loop.capture.queue=1000",
        ],  # replay outruns the writer: nothing may be dropped here
    )
    events = replay(config, colour_video.path).events
    kept = list(read_captures(tmp_path / "cap"))
    starts = {e.id for e in events if e.phase == "start"}
    assert starts and starts == {i for c in kept for i in c.event_ids}
    grey = [c for c in kept if "margin" in c.reasons]  # grey frames: every class at 1/3
    assert grey and all(abs(c.prediction["score"] - 1 / 3) < 0.05 for c in grey)
    assert all(c.bundle.name == "tiny-colour" and c.prediction["task"] == "classify" for c in kept)
    assert (kept[0].width, kept[0].height) == (64, 48)
