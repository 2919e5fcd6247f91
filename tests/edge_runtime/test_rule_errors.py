"""A camera's rules raising on a frame: that frame's rules step fails, counted and shown as the camera's
health, logged sparingly, and the frames after it go on in order; replay stops, naming camera and frame.

Before: the exception left the inference loop and ended the daemon (every camera stopped watching until
systemd restarted it). The model (real ONNX Runtime / OpenVINO sessions), the video and the daemon's HTTP
endpoint are real; the fault is a rule that raises while (or on the frames where) the test says so.
"""

from __future__ import annotations

import json
import logging
import threading
import time

import numpy as np
import pytest
import yaml
from conftest import RunningDaemon, Subscriber, write_site
from daemon_helpers import free_port, http_get, wait_until

from edge_runtime.backends import BackendOptions
from edge_runtime.bundle import load_bundle
from edge_runtime.config import load_site_config
from edge_runtime.config.daemon import SnapshotConfig
from edge_runtime.config.rules import RuleConfig
from edge_runtime.errors import RulesError
from edge_runtime.inference import Pipeline
from edge_runtime.model import BundleModel
from edge_runtime.replay import replay
from edge_runtime.rule_errors import RuleErrors
from edge_runtime.rules import Rule, RuleSet
from edge_runtime.siteloop.loop import SiteLoop
from edge_runtime.snapshots import SnapshotWriter
from edge_runtime.sources import Frame
from edge_runtime.timing import StageTimers

RED, BLUE, GREY = (0, 0, 255), (255, 0, 0), (90, 90, 90)
SCRIPT = [RED] * 15 + [GREY] * 5 + [BLUE] * 10 + [GREY] * 10  # red 0-14, blue 20-29
RULES = [
    RuleConfig(name=colour, labels=[colour], min_score=0.6, debounce={"hits": 1, "window": 1})
    for colour in ("red", "blue")
]


def _frames() -> list[Frame]:
    return [
        Frame("cam1", index, time.time(), index / 10, np.full((48, 64, 3), bgr, np.uint8))
        for index, bgr in enumerate(SCRIPT)
    ]


def _raising_on(monkeypatch, frames: set[int]) -> None:
    evaluate = RuleSet.evaluate

    def flaky(self, frame, prediction, on_error=None):  # a rule set with a bug that shows only on some frames
        if frame.index in frames:
            raise KeyError("zone")
        return evaluate(self, frame, prediction, on_error)

    monkeypatch.setattr(RuleSet, "evaluate", flaky)


@pytest.mark.parametrize(("artifact", "mode"), [("onnx-fp32", "latency"), ("openvino-fp32", "throughput")])
def test_a_frame_whose_rules_raise_loses_only_its_events_and_later_frames_go_on_in_order(
    tiny_bundle, monkeypatch, artifact, mode
):
    _raising_on(monkeypatch, {20, 21})  # the blue run's first frames
    model = BundleModel(load_bundle(tiny_bundle), artifact, options=BackendOptions(mode=mode))
    errors = RuleErrors(60.0)
    pipeline = Pipeline(model, RuleSet(RULES), [], StageTimers(), rule_errors=errors)
    events = []
    for frame in _frames():
        pipeline.submit([frame])
        events += pipeline.collect()
    events += pipeline.finish()
    assert [(e.label, e.phase, e.frame) for e in events] == [
        ("red", "start", 0),
        ("red", "end", 15),
        ("blue", "start", 22),
        ("blue", "end", 30),
    ]
    assert pipeline.frames == len(SCRIPT) and pipeline.summary(1.0).rule_errors == 2
    assert errors.state("cam1") == {"errors": 2, "error": None, "last_error": "KeyError: 'zone'"}


def _rule_raising_on(monkeypatch, name: str, frames: set[int]) -> None:
    update = Rule.update

    def flaky(self, frame, prediction):  # one rule with a bug, the others fine
        if self.config.name == name and frame.index in frames:
            raise KeyError("zone")
        return update(self, frame, prediction)

    monkeypatch.setattr(Rule, "update", flaky)


def test_a_raising_rule_loses_only_its_own_events_the_other_rules_still_see_the_frame(
    tiny_bundle, monkeypatch, caplog
):
    _rule_raising_on(monkeypatch, "red", {20, 21})  # while the blue run starts
    errors = RuleErrors(60.0)
    model = BundleModel(load_bundle(tiny_bundle), "onnx-fp32")
    pipeline = Pipeline(model, RuleSet(RULES), [], StageTimers(), rule_errors=errors)
    caplog.set_level(logging.ERROR, logger="edge_runtime.rule_errors")
    events = pipeline.process(_frames()) + pipeline.finish()
    assert [(e.label, e.phase, e.frame) for e in events] == [
        ("red", "start", 0), ("red", "end", 15), ("blue", "start", 20), ("blue", "end", 30)
    ]  # fmt: skip
    assert errors.state("cam1")["errors"] == 2
    assert "the rule 'red' failed on frame 20" in caplog.records[0].getMessage()

    monkeypatch.undo()
    _rule_raising_on(monkeypatch, "blue", {20})
    replayed = Pipeline(model, RuleSet(RULES), [], StageTimers())
    with pytest.raises(RulesError, match=r"cam1: frame 20: the rule 'blue' failed \(KeyError: 'zone'\)"):
        replayed.process(_frames())


def test_without_rule_errors_the_pipeline_stops_naming_the_camera_and_frame(tiny_bundle, monkeypatch):
    _raising_on(monkeypatch, {20})
    pipeline = Pipeline(BundleModel(load_bundle(tiny_bundle), "onnx-fp32"), RuleSet(RULES), [], StageTimers())
    with pytest.raises(RulesError, match=r"cam1: frame 20: the rules failed \(KeyError: 'zone'\)"):
        for frame in _frames():
            pipeline.submit([frame])
            pipeline.collect()


def test_a_snapshot_that_raises_is_counted_and_its_event_still_goes_out(tiny_bundle, tmp_path, monkeypatch):
    def broken(self, frame, event, prediction=None):
        raise ValueError("cannot draw the zone")

    monkeypatch.setattr(SnapshotWriter, "write", broken)
    snapshots = SnapshotWriter(SnapshotConfig(enabled=True, folder=tmp_path / "snapshots"), RULES)
    errors = RuleErrors(60.0)
    model = BundleModel(load_bundle(tiny_bundle), "onnx-fp32")
    pipeline = Pipeline(model, RuleSet(RULES), [], StageTimers(), snapshots=snapshots, rule_errors=errors)
    events = pipeline.process(_frames())
    starts = [e for e in events if e.phase == "start"]
    assert [e.label for e in starts] == ["red", "blue"] and all("snapshot" not in e.extra for e in starts)
    assert errors.state("cam1")["errors"] == 2 and errors.state("cam1")["last_error"] == (
        "ValueError: cannot draw the zone"
    )


def test_replay_stops_loudly_at_the_frame_whose_rules_raised(
    tmp_path, tiny_bundle, colour_video, monkeypatch
):
    _raising_on(monkeypatch, {40})
    site = write_site(tmp_path / "site.yaml", tiny_bundle, colour_video.path, tmp_path / "events.jsonl")
    with pytest.raises(RulesError, match=r"cam1: frame 40: the rules failed \(KeyError: 'zone'\)"):
        replay(load_site_config(site), colour_video.path)


def test_a_site_loop_raising_on_every_frame_is_one_run_of_failures_and_rule_events_still_go_out(
    tmp_path, tiny_bundle, colour_video, monkeypatch, caplog
):
    def broken(self, frames, predictions, caused):  # a drift statistic with a bug, hit by every frame
        raise ZeroDivisionError("empty window")

    monkeypatch.setattr(SiteLoop, "observe", broken)
    site = write_site(tmp_path / "site.yaml", tiny_bundle, colour_video.path, tmp_path / "events.jsonl")
    bundle = load_bundle(tiny_bundle)
    errors = RuleErrors(60.0)
    site_loop = SiteLoop(load_site_config(site), bundle, "onnx-fp32")
    pipeline = Pipeline(
        BundleModel(bundle, "onnx-fp32"),
        RuleSet(RULES),
        [],
        StageTimers(),
        site_loop=site_loop,
        rule_errors=errors,
    )
    caplog.set_level(logging.INFO, logger="edge_runtime.rule_errors")
    events = []
    for frame in _frames():
        pipeline.submit([frame])
        events += pipeline.collect()
    events += pipeline.finish()
    assert [(e.label, e.phase) for e in events] == [
        ("red", "start"),
        ("red", "end"),
        ("blue", "start"),
        ("blue", "end"),
    ]
    assert errors.state("cam1") == {
        "errors": len(SCRIPT),
        "error": "ZeroDivisionError: empty window",
        "last_error": "ZeroDivisionError: empty window",
    }
    # one run of failures: the first with its traceback, no "works again" between the frames
    assert len([r for r in caplog.records if r.exc_info is not None]) == 1
    assert not [r for r in caplog.records if "works again" in r.getMessage()]
    assert "the site loop failed on frame 0" in caplog.records[0].getMessage()

    replayed = Pipeline(
        BundleModel(bundle, "onnx-fp32"), RuleSet(RULES), [], StageTimers(), site_loop=site_loop
    )
    with pytest.raises(
        RulesError, match=r"cam1: frame 0: the site loop failed \(ZeroDivisionError: empty window\)"
    ):
        replayed.process(_frames()[:1])


def _events(path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_the_daemon_counts_a_raising_rule_shows_it_and_keeps_delivering_events(
    tmp_path, tiny_bundle, colour_video, monkeypatch, caplog, mosquitto
):
    broken = threading.Event()
    evaluate = RuleSet.evaluate

    def flaky(self, frame, prediction, on_error=None):
        if broken.is_set():
            raise KeyError("zone")
        return evaluate(self, frame, prediction, on_error)

    monkeypatch.setattr(RuleSet, "evaluate", flaky)
    path = tmp_path / "events" / "events.jsonl"
    site = write_site(tmp_path / "site.yaml", tiny_bundle, colour_video.path, path)
    data = yaml.safe_load(site.read_text())
    data["cameras"][0].update(loop=True, realtime=True)
    data["rules"][0]["cooldown_s"] = data["rules"][1]["cooldown_s"] = 0.0
    data["http"] = {"port": free_port(), "benchmark": str(tmp_path / "no-bench" / "results.json")}
    data["sinks"]["mqtt"] = {"port": mosquitto.port, "client_id": "edge-1", "state": {"every_s": 0.2}}
    site.write_text(yaml.safe_dump(data, sort_keys=False))
    config = load_site_config(site)
    caplog.set_level(logging.ERROR, logger="edge_runtime.rule_errors")
    daemon = RunningDaemon(config, site)
    plc = Subscriber(mosquitto.port, "adit/state/edge-1/camera/cam1", client_id="plc")

    def camera() -> dict:
        return json.loads(http_get(f"{daemon.url}/status")[1])["cameras"]["cam1"]

    def healthz() -> tuple[int, list[str]]:
        code, body = http_get(f"{daemon.url}/healthz")
        return code, json.loads(body)["cameras"]["cam1"]["conditions"]

    def retained_conditions() -> list[str]:  # what a PLC reads from the retained state topic
        return json.loads(plc.messages[-1][1])["conditions"] if plc.messages else ["none yet"]

    try:
        daemon.wait_ready()
        broken.set()
        assert wait_until(lambda: daemon.error is not None or camera()["errors"] >= 3, timeout_s=60), (
            daemon.error
        )
        assert daemon.error is None and camera()["error"] == "KeyError: 'zone'"
        code, conditions = healthz()
        assert code != 200 and "rules_failing" in conditions and "inference_failing" not in conditions
        metrics = http_get(f"{daemon.url}/metrics")[1].decode()
        assert 'adit_camera_errors_total{camera="cam1"}' in metrics
        overview = json.loads(http_get(f"{daemon.url}/api/overview")[1])["cameras"][0]
        assert "rules_failing" in overview["conditions"]
        assert wait_until(lambda: "rules_failing" in retained_conditions(), timeout_s=30), plc.messages
        tracebacks = [r for r in caplog.records if r.exc_info is not None]
        # the first with its traceback, then at most one line a minute
        assert len(tracebacks) == 1 and "cam1" in tracebacks[0].getMessage()
        broken.clear()
        seen = len(_events(path))

        def rule_events_after_the_errors() -> list[dict]:
            return [e for e in _events(path)[seen:] if e["kind"] == "rule"]

        assert wait_until(lambda: len(rule_events_after_the_errors()) >= 2, timeout_s=60), "no event after"
        frames = [e["frame"] for e in rule_events_after_the_errors()]
        assert frames == sorted(frames)  # in frame order
        assert wait_until(lambda: "rules_failing" not in healthz()[1], timeout_s=30), healthz()
        assert wait_until(lambda: retained_conditions() == [], timeout_s=30), plc.messages
        state = camera()
        assert state["error"] is None and state["last_error"] == "KeyError: 'zone'" and state["errors"] >= 3
        assert daemon.error is None
    finally:
        plc.close()
        daemon.close()
