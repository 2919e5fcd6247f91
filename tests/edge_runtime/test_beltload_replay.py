"""Belt load end to end: the generated belt video (load known per frame) replayed through a real bundle.

The bundle is a hand-set segmenter (no training, runs in milliseconds): a 1x1 convolution that calls a
pixel coal when its grey level is below ``DARK_BELOW``, belt otherwise. On the generated video that
rule alone measures the belt region's coal share to within a few per cent of the truth, so the test
checks the whole path (decode, region, smoothing, speed, overload events, sinks, --expect) against
the generator's ground truth rather than against numbers it computed itself.
"""

from __future__ import annotations

import csv
import json
from contextlib import closing
from pathlib import Path

import numpy as np
import onnx
import pytest
import yaml
from onnx import TensorProto, helper, numpy_helper

from edge_runtime.beltload import OVERLOAD_TYPE, SPEED_TYPE
from edge_runtime.bundle import Artifact, InputSpec, Manifest, file_digest, write_manifest
from edge_runtime.cli import main
from edge_runtime.config import load_site_config
from edge_runtime.events import compare_events, read_events, read_truth
from edge_runtime.pipeline import belt_monitor, load_model, replay, verify_site
from edge_runtime.sources import iter_frames, open_source
from edge_runtime.timing import StageTimers

SEGMENT_CLASSES = ["background", "belt", "coal"]
DARK_BELOW = 52.0  # grey level (0-255): the generated coal is darker, the belt lighter
GAIN = 0.5  # logit per grey level: a pixel 10 levels from the threshold is 99 % sure
INPUT_HW = (90, 160)


def dark_segmenter() -> onnx.ModelProto:
    """images [N,3,H,W] RGB 0..1 -> Conv 1x1 -> logits [N,3,H,W]: coal where grey < DARK_BELOW."""
    grey = np.array([0.299, 0.587, 0.114], np.float32) * 255.0
    weight = np.zeros((3, 3, 1, 1), np.float32)
    weight[2, :, 0, 0] = -GAIN * grey  # coal: GAIN * (DARK_BELOW - grey)
    bias = np.array([-100.0, 0.0, GAIN * DARK_BELOW], np.float32)  # background never wins
    images = helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, *INPUT_HW])
    logits = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3, *INPUT_HW])
    graph = helper.make_graph(
        [helper.make_node("Conv", ["images", "weight", "bias"], ["logits"])],
        "dark_segmenter",
        [images],
        [logits],
        initializer=[numpy_helper.from_array(weight, "weight"), numpy_helper.from_array(bias, "bias")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="adit-tests")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


@pytest.fixture(scope="module")
def dark_bundle(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dark") / "bundle"
    root.mkdir()
    onnx.save(dark_segmenter(), root / "model.onnx")
    manifest = Manifest(
        name="dark-segmenter",
        task="segment",
        classes=SEGMENT_CLASSES,
        input=InputSpec(size=INPUT_HW),
        artifacts=[Artifact(**file_digest(root / "model.onnx", root).model_dump(), format="onnx", precision="fp32")],
        provenance={"made_by": "tests/edge_runtime/test_beltload_replay.py (hand-set weights)"},
    )
    write_manifest(root, manifest)
    return root


@pytest.fixture
def belt_site(tmp_path: Path, dark_bundle: Path, tiny_data: Path) -> Path:
    """The demo site's belt settings (configs/site-belt-demo.yaml) on the tiny video and bundle."""
    demo = yaml.safe_load(Path("configs/site-belt-demo.yaml").read_text())
    region = json.loads((tiny_data / "video" / "belt_region.json").read_text())["region"]
    site = {
        "model": {"bundle": str(dark_bundle)},
        "cameras": [{"name": "belt", "source": str(tiny_data / "video" / "belt.avi")}],
        "belt_load": {**demo["belt_load"], "region": region},
        "sinks": {"jsonl": {"path": str(tmp_path / "events.jsonl")}},
        "outbox": {"path": str(tmp_path / "outbox.sqlite")},
        "http": {"port": 0},
    }
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(site), encoding="utf-8")
    return path


def _truth_loads(tiny_data: Path) -> np.ndarray:
    with (tiny_data / "video" / "frames.csv").open() as handle:
        return np.array([float(row["belt_load"]) for row in csv.DictReader(handle)])


def test_every_frame_is_measured_near_the_truth_and_the_speed_ramps(belt_site: Path, tiny_data: Path) -> None:
    config = load_site_config(belt_site)
    bundle = verify_site(config)
    model, monitor = load_model(bundle, config.model), belt_monitor(config, bundle)
    raw, speeds, times = [], [], []
    with closing(open_source(config.camera())) as source:
        for frame in iter_frames(source, StageTimers()):
            monitor.update(frame, model.segment([frame.image])[0])
            state = monitor.states["belt"]
            raw.append(state.raw_load)
            speeds.append(state.speed_mps)
            times.append(frame.pts_s)
    truth = _truth_loads(tiny_data)
    assert len(raw) == len(truth)
    assert np.abs(np.array(raw) - truth).mean() < 0.08
    limits = config.belt_load.speed
    assert all(limits.min_mps <= v <= limits.max_mps for v in speeds)
    ramp = np.abs(np.diff(speeds)) / np.diff(times)
    assert ramp.max() <= limits.max_accel_mps2 + 1e-6
    # a normal load slows the belt from its full start speed; the overload brings it back up
    slowest = int(np.argmin(speeds))
    assert speeds[slowest] < limits.max_mps - 2 * limits.deadband_mps
    assert speeds[-1] > speeds[slowest] + limits.deadband_mps


def test_replay_raises_the_known_overload_with_its_inputs(belt_site: Path, tiny_data: Path) -> None:
    config = load_site_config(belt_site)
    result = replay(config, tiny_data / "video" / "belt.avi")
    overloads = [e for e in result.events if e.type == OVERLOAD_TYPE]
    match = compare_events(overloads, read_truth(tiny_data / "video" / "belt_truth.jsonl"), tolerance=0)
    assert match.ok, match.table()
    start, end = overloads
    assert start.extra["load"] >= config.belt_load.overload.above
    assert start.extra["min_mps"] == config.belt_load.speed.min_mps
    assert end.extra["start_id"] == start.id and end.extra["reason"] == "stopped"  # overloaded to the end
    speed_events = [e for e in result.events if e.type == SPEED_TYPE]
    assert speed_events[0].frame == 0 and len(speed_events) >= 2
    assert all(e.phase == "update" and "recommended_speed_mps" in e.extra for e in speed_events)


def test_replay_cli_checks_the_overload_truth(belt_site: Path, tiny_data: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "replayed.jsonl"
    video = tiny_data / "video"
    code = main(
        ["replay", str(video / "belt.avi"), "--config", str(belt_site), "--expect", str(video / "belt_truth.jsonl"),
         "--out", str(out)]
    )
    assert code == 0, capsys.readouterr().out
    assert "1 matched, 0 missed, 0 false" in capsys.readouterr().out
    types = {event.type for event in read_events(out)}
    assert types == {OVERLOAD_TYPE, SPEED_TYPE}


def test_a_classify_bundle_cannot_measure_belt_load(belt_site: Path, tiny_bundle: Path, capsys) -> None:
    code = main(["run", "--validate", "--config", str(belt_site), f"model.bundle={tiny_bundle}"])
    assert code == 2
    assert "belt_load: needs a segment bundle" in capsys.readouterr().err
