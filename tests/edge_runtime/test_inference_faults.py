"""The model failing on some frames: the frame is counted and skipped, later frames go on, and a camera that
keeps failing raises ``inference_failing`` until a whole window infers again.

Failures are real runtime errors: a frame whose tensor has the wrong rank (a corrupted tensor) is handed to
real ONNX Runtime and OpenVINO sessions, synchronously in latency mode and on OpenVINO's infer-request queue
in throughput mode, where the runtime fails the request on its own thread.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import replace

import numpy as np
import pytest
import yaml
from conftest import RunningDaemon, write_site
from daemon_helpers import free_port, http_get, wait_until

from edge_runtime.backends import BackendOptions, create_backend
from edge_runtime.bundle import load_bundle
from edge_runtime.config import load_site_config
from edge_runtime.config.cameras import InferenceFailuresConfig
from edge_runtime.config.machines import MachineConfig
from edge_runtime.config.rules import RuleConfig
from edge_runtime.errors import ConfigError, InferenceError
from edge_runtime.event_schema import validate_event
from edge_runtime.events import Event
from edge_runtime.inference import Pipeline, PipelineSummary
from edge_runtime.inference_faults import InferenceFaults
from edge_runtime.model import BundleModel
from edge_runtime.pipeline import run
from edge_runtime.rules import RuleSet
from edge_runtime.signal_monitor import SignalMonitor, replay_machine, verify_machine
from edge_runtime.signal_source import open_samples
from edge_runtime.sources import Frame
from edge_runtime.startup import verify_daemon
from edge_runtime.timing import StageTimers
from train.signal.stream import synthetic_stream

RED, BLUE, GREY = (0, 0, 255), (255, 0, 0), (90, 90, 90)
BAD = {10, 11, 12, 13, 14}  # the frames whose tensor is corrupted
# frames 0-9 red, 10-14 red but corrupted, 15-19 grey, 20-29 blue, 30-39 grey
SCRIPT = [RED] * 15 + [GREY] * 5 + [BLUE] * 10 + [GREY] * 10
RULES = [
    RuleConfig(name=colour, labels=[colour], min_score=0.6, debounce={"hits": 1, "window": 1})
    for colour in ("red", "blue")
]
MODES = [("onnx-fp32", "latency"), ("openvino-fp32", "latency"), ("openvino-fp32", "throughput")]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _faults(emitted: list[Event], clock: Clock | None = None, **settings: float) -> InferenceFaults:
    config = InferenceFailuresConfig(**{"window": 5, "raise_after": 3, **settings})
    return InferenceFaults(config, "openvino-fp32", emitted.append, clock or Clock())


def _contract(event: Event) -> None:
    validate_event(json.loads(event.to_json()))  # the published schema (docs/events/inference.schema.json)


def test_sustained_failures_raise_the_event_once_and_a_whole_good_window_ends_it():
    emitted: list[Event] = []
    faults = _faults(emitted)
    for frame in range(2):
        faults.failed("cam1", frame, RuntimeError("request failed"))
    assert emitted == [] and faults.failing == []
    for frame in range(2, 8):
        faults.failed("cam1", frame, RuntimeError("request failed"))
    (start,) = emitted
    assert (start.camera, start.type, start.kind, start.phase, start.frame) == (
        "cam1",
        "inference_failing",
        "inference",
        "start",
        2,
    )
    error = "RuntimeError: request failed"
    assert start.extra == {"model": "openvino-fp32", "failed": 3, "window": 5, "error": error}
    assert faults.failing == ["cam1"]
    for frame in range(8, 12):
        faults.succeeded("cam1", frame)
    assert len(emitted) == 1  # one failure still in the window of five
    faults.succeeded("cam1", 12)
    end = emitted[1]
    assert (end.phase, end.frame, end.extra["start_id"], end.extra["failed"]) == ("end", 12, start.id, 5)
    for event in emitted:
        _contract(event)
    state = faults.state()["cam1"]
    assert (state["failures"], state["inferred"], state["failing"], state["errors"]) == (
        8,
        5,
        False,
        {"RuntimeError": 8},
    )


def test_a_flapping_model_raises_on_its_failure_rate_not_only_on_a_run():
    emitted: list[Event] = []
    faults = _faults(emitted, window=8, raise_after=3)
    for frame in range(12):  # every third frame fails: never two in a row
        if frame % 3 == 0:
            faults.failed("cam1", frame, ValueError("bad output"))
        else:
            faults.succeeded("cam1", frame)
    assert [e.phase for e in emitted] == ["start"] and faults.failing == ["cam1"]
    faults.succeeded("other", 0)
    assert faults.state()["other"]["failing"] is False


def test_failures_are_logged_once_then_summarised_not_one_line_a_frame(caplog):
    clock = Clock()
    faults = _faults([], clock, window=5, raise_after=5, log_every_s=60.0)
    with caplog.at_level(logging.ERROR, logger="edge_runtime.inference_faults"):
        for frame in range(100):
            clock.now = frame * 0.1  # 10 s of failures at 10 fps
            faults.failed("cam1", frame, RuntimeError("out of memory"))
    lines = [r for r in caplog.records if "inference failed" in r.getMessage()]
    assert len(lines) == 1 and lines[0].exc_info is not None  # the first, with its traceback
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="edge_runtime.inference_faults"):
        clock.now = 61.0
        faults.failed("cam1", 100, RuntimeError("out of memory"))
    (summary,) = [r for r in caplog.records if "inference failed" in r.getMessage()]
    assert "100 more frame(s)" in summary.getMessage()


def _frames() -> list[Frame]:
    frames = []
    for index, bgr in enumerate(SCRIPT):
        frame = Frame("cam1", index, time.time(), index / 10, np.full((48, 64, 3), bgr, np.uint8))
        if index in BAD:  # a tensor of the wrong rank: the runtime itself refuses it
            frame = replace(frame, tensor=np.zeros((1, 3, 32), np.float32))
        frames.append(frame)
    return frames


def _model(tiny_bundle, artifact: str, mode: str) -> BundleModel:
    return BundleModel(load_bundle(tiny_bundle), artifact, options=BackendOptions(mode=mode))


@pytest.mark.parametrize(("artifact", "mode"), MODES)
def test_the_pipeline_skips_the_frames_the_runtime_fails_on_and_goes_on(tiny_bundle, artifact, mode):
    emitted: list[Event] = []
    faults = _faults(emitted)
    pipeline = Pipeline(_model(tiny_bundle, artifact, mode), RuleSet(RULES), [], StageTimers(), faults=faults)
    events = []
    for frame in _frames():  # as replay and the daemon's loop do: start, collect what finished
        pipeline.submit([frame])
        events += pipeline.collect()
    events += pipeline.finish()  # returns: no failed frame left in flight
    assert pipeline.in_flight == 0
    rules = [(e.label, e.phase, e.frame) for e in events]
    # the red event ends at the first frame the rules see after it (the corrupted ones never reach them)
    assert rules == [("red", "start", 0), ("red", "end", 15), ("blue", "start", 20), ("blue", "end", 30)]
    assert [(e.phase, e.frame) for e in emitted] == [("start", 12), ("end", 19)]
    assert emitted[0].extra["error"] and emitted[1].extra["failed"] == 2
    assert pipeline.frames == len(SCRIPT) - len(BAD) and pipeline.inference_failures == len(BAD)
    assert faults.state()["cam1"]["failures"] == len(BAD) and not faults.failing
    assert pipeline.summary(1.0).inference_failures == len(BAD)


@pytest.mark.parametrize(("artifact", "mode"), MODES)
def test_replay_stops_at_the_first_failed_frame_and_names_it(tiny_bundle, artifact, mode):
    pipeline = Pipeline(_model(tiny_bundle, artifact, mode), RuleSet(RULES), [], StageTimers())
    with pytest.raises(InferenceError, match=r"cam1: frame 10: inference failed"):
        for frame in _frames():
            pipeline.submit([frame])
            pipeline.collect()
        pipeline.finish()


def test_an_exception_in_the_throughput_callback_fails_that_frame_and_the_queue_goes_on(tiny_bundle):
    bundle = load_bundle(tiny_bundle)
    artifact = bundle.artifact("openvino-fp32")
    backend = create_backend("openvino", bundle.path_of(artifact), BackendOptions(mode="throughput"))
    good = np.full((1, 3, 32, 32), 0.5, np.float32)
    failed: list[Exception] = []
    done: list[int] = []

    def broken(_outputs) -> None:
        raise ValueError("the caller's handler broke")

    runtime_threads: list[threading.Thread] = []

    def keep(index: int):
        def done_one(outputs) -> None:
            runtime_threads.append(threading.current_thread())
            assert outputs[0].shape == (1, 3)
            done.append(index)

        return done_one

    backend.start(good, broken, failed.append)
    backend.wait()
    assert [type(e) for e in failed] == [ValueError]  # handed on, not swallowed
    backend.start(np.zeros((1, 3, 32), np.float32), keep(-1), failed.append)  # the runtime fails this one
    for index in range(6):  # more frames than requests: each request is reused after the failure
        backend.start(good, keep(index), failed.append)
    backend.wait()
    assert sorted(done) == list(range(6)) and [type(e) for e in failed] == [ValueError, RuntimeError]
    assert all(t is not threading.main_thread() for t in runtime_threads)  # really on OpenVINO's threads


def _faulty_daemon(
    tmp_path, tiny_bundle, colour_video, mode: str, *, loop: bool = True, raise_after: int = 3
):
    """The real daemon on the colour video (looping, live paced); while ``corrupt`` is set, tensors have the
    wrong rank."""
    events = tmp_path / "events" / "events.jsonl"
    site = write_site(tmp_path / "site.yaml", tiny_bundle, colour_video.path, events)
    data = yaml.safe_load(site.read_text())
    data["model"].update(artifact="openvino-fp32", mode=mode)
    data["cameras"][0].update(loop=loop, realtime=loop)
    data["rules"][0]["cooldown_s"] = data["rules"][1]["cooldown_s"] = 0.0
    data["inference_failures"] = {"window": 6, "raise_after": raise_after}
    data["http"] = {"port": free_port(), "benchmark": str(tmp_path / "no-bench" / "results.json")}
    site.write_text(yaml.safe_dump(data, sort_keys=False))
    config = load_site_config(site)
    verified = verify_daemon(config)
    backend, corrupt = verified.model.backend, threading.Event()
    start = backend.start

    def corrupted(batch, done, failed) -> None:  # the real backend, given a tensor it cannot take
        start(batch[..., 0] if corrupt.is_set() else batch, done, failed)

    backend.start = corrupted
    return config, verified, corrupt, events


def config_path(tmp_path):
    return tmp_path / "site.yaml"


def _events(path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _metric(body: str, name: str) -> float | None:
    for line in body.splitlines():
        if line.startswith(f'{name}{{camera="cam1"}}'):
            return float(line.split()[-1])
    return None


@pytest.mark.parametrize("mode", ["latency", "throughput"])
def test_the_daemon_counts_failed_frames_raises_health_and_keeps_every_camera(
    tmp_path, tiny_bundle, colour_video, mode
):
    config, verified, corrupt, path = _faulty_daemon(tmp_path, tiny_bundle, colour_video, mode)
    daemon = RunningDaemon(config, config_path(tmp_path), verified)
    try:
        daemon.wait_ready()
        corrupt.set()

        def failing() -> list[dict]:
            return [e for e in _events(path) if e["type"] == "inference_failing"]

        assert wait_until(lambda: failing(), timeout_s=60), "no inference_failing event"
        start = failing()[0]
        assert (start["camera"], start["phase"], start["kind"], start["severity"]) == (
            "cam1",
            "start",
            "inference",
            "critical",
        )
        validate_event(start)
        status = json.loads(http_get(f"{daemon.url}/status")[1])["inference"]["cam1"]
        assert status["failing"] and status["failures"] >= 3 and "RuntimeError" in status["errors"]
        code, body = http_get(f"{daemon.url}/healthz")
        assert code != 200 and "inference_failing" in json.loads(body)["cameras"]["cam1"]["conditions"]
        metrics = http_get(f"{daemon.url}/metrics")[1].decode()
        assert _metric(metrics, "adit_inference_failures_total") >= 3
        assert _metric(metrics, "adit_inference_failing") == 1.0
        # the dashboard's word for the camera: frames arrive (shown), the model fails on them
        camera = json.loads(http_get(f"{daemon.url}/api/overview")[1])["cameras"][0]
        assert camera["state"] == "inference_failing" and camera["signal"], camera
        assert "inference_failing" in camera["conditions"]
        corrupt.clear()
        assert wait_until(lambda: len(failing()) == 2, timeout_s=60), "inference_failing did not end"
        end = failing()[1]
        assert end["phase"] == "end" and end["extra"]["start_id"] == start["id"]
        seen = len(_events(path))

        def rule_event_after_recovery() -> bool:
            return any(e["kind"] == "rule" for e in _events(path)[seen:])

        assert wait_until(rule_event_after_recovery, timeout_s=60), "no rule event after the failures"
        assert daemon.error is None
        status = json.loads(http_get(f"{daemon.url}/status")[1])["inference"]["cam1"]
        assert not status["failing"] and status["inferred"] > 0
        camera = json.loads(http_get(f"{daemon.url}/api/overview")[1])["cameras"][0]
        assert camera["state"] != "inference_failing" and "inference_failing" not in camera["conditions"]
    finally:
        daemon.close()


def test_a_machine_skips_the_windows_the_model_fails_on_and_keeps_monitoring(signal_bundle, tmp_path):
    source = tmp_path / "stream.npy"
    np.save(source, synthetic_stream(seconds_each=1.0))
    machine = MachineConfig(name="fan-3", source=str(source), realtime=False, bundle=signal_bundle)
    clean, _ = replay_machine(machine, [])
    model = verify_machine(machine, 0)
    prepare, corrupt = model.prepare, [False]
    model.prepare = lambda windows: prepare(windows)[..., 0] if corrupt[0] else prepare(windows)  # wrong rank
    emitted: list[Event] = []
    faults = InferenceFaults(InferenceFailuresConfig(window=4, raise_after=2), "m", emitted.append)
    monitor = SignalMonitor(machine, model, [], lambda _events: None, faults=faults)
    chunks = list(open_samples(machine.source, monitor.spec, realtime=False))
    assert len(chunks) >= 8
    for index, chunk in enumerate(chunks):
        corrupt[0] = 2 <= index < 5
        monitor.process(chunk)
    state = monitor.state()
    assert state["inference_failures"] > 0 and not state["inference_failing"]
    assert monitor.windows + monitor.infer_failures == clean.windows  # every window either way
    assert [(e.camera, e.type, e.phase) for e in emitted] == [
        ("fan-3", "inference_failing", "start"),
        ("fan-3", "inference_failing", "end"),
    ]
    corrupt[0] = True  # without a fault monitor (replay) a failed window is an error that names it
    replaying = SignalMonitor(machine, model, [], lambda _events: None)
    with pytest.raises(InferenceError, match=r"fan-3: window 0: inference failed"):
        for chunk in chunks:
            replaying.process(chunk)


@pytest.mark.parametrize("mode", ["latency", "throughput"])
def test_the_daemon_still_ends_with_its_sources_when_their_last_frames_failed(
    tmp_path, tiny_bundle, colour_video, mode
):
    """A failed request in flight must not keep the run waiting for it after every camera has ended."""
    config, verified, corrupt, path = _faulty_daemon(
        tmp_path, tiny_bundle, colour_video, mode, loop=False, raise_after=1
    )
    corrupt.set()  # every frame fails
    summaries: list[PipelineSummary] = []
    runner = threading.Thread(
        target=lambda: summaries.append(run(config, threading.Event(), verified=verified)), daemon=True
    )
    runner.start()
    runner.join(60)
    assert not runner.is_alive(), "the run did not end after its only camera's video ended"
    (summary,) = summaries
    assert summary.frames == 0 and summary.inference_failures > 0, summary
    # raised at the first failure (reading as fast as it can, the camera gets only a few frames inferred)
    assert [e["phase"] for e in _events(path) if e["type"] == "inference_failing"] == ["start"]


def test_a_threshold_beyond_its_window_is_refused_naming_the_section(tmp_path, tiny_bundle, colour_video):
    site = write_site(tmp_path / "site.yaml", tiny_bundle, colour_video.path, tmp_path / "events.jsonl")
    refused = r"inference_failures.*raise_after \(30\) cannot exceed window \(20\)"
    with pytest.raises(ConfigError, match=refused):
        load_site_config(site, ["inference_failures.raise_after=30"])
