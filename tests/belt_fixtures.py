"""Session fixtures for belt load: a hand-set segment bundle and a site for the generated belt video.

The bundle is a segmenter without training (runs in milliseconds): a 1x1 convolution that calls a
pixel coal when its grey level is below ``DARK_BELOW``, belt otherwise. On the generated video that
rule alone measures the belt region's coal share to within a few per cent of the truth, so tests
can check the whole path (decode, region, smoothing, speed, overload events, sinks, --expect) against
the generator's ground truth rather than against numbers they computed themselves.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import yaml
from onnx import TensorProto, helper, numpy_helper

from edge_runtime.bundle import Artifact, InputSpec, Manifest, file_digest, write_manifest

REPO = Path(__file__).resolve().parents[1]

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


@pytest.fixture(scope="session")
def dark_bundle(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dark") / "bundle"
    root.mkdir()
    onnx.save(dark_segmenter(), root / "model.onnx")
    manifest = Manifest(
        name="dark-segmenter",
        task="segment",
        classes=SEGMENT_CLASSES,
        input=InputSpec(size=INPUT_HW),
        artifacts=[
            Artifact(**file_digest(root / "model.onnx", root).model_dump(), format="onnx", precision="fp32")
        ],
        provenance={"made_by": "tests/edge_runtime/test_beltload_replay.py (hand-set weights)"},
    )
    write_manifest(root, manifest)
    return root


@pytest.fixture
def belt_site(tmp_path: Path, dark_bundle: Path, tiny_data: Path) -> Path:
    """The demo site's belt settings (configs/site-belt-demo.yaml) on the tiny video and bundle."""
    demo = yaml.safe_load((REPO / "configs" / "site-belt-demo.yaml").read_text())
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
