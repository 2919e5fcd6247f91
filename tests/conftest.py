"""Fixtures shared by every stage's tests: a real (tiny) model bundle and a video with known truth.

Both are built without torch, in well under a second, so the edge runtime's tests stay fast and
run on a machine that has only the ``edge`` extra plus onnx.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import onnx
import openvino as ov
import pytest
from onnx import TensorProto, helper, numpy_helper

from edge_runtime.bundle import Artifact, InputSpec, Manifest, file_digest, write_manifest

# The workstation pipeline's session fixtures (tiny data -> checkpoint -> exported bundle).
pytest_plugins = ["pipeline_fixtures", "dense_fixtures", "signal_fixtures", "belt_fixtures", "event_contract"]

TINY_CLASSES = ("red", "green", "blue")
TINY_SIZE = 32
# Logit gain: a solid colour (1, 0, 0) scores softmax(10, 0, 0)[0] = 0.9999, mid-grey 1/3 for each class.
COLOUR_GAIN = 10.0
BGR = {"red": (0, 0, 255), "green": (0, 255, 0), "blue": (255, 0, 0), "grey": (90, 90, 90)}
# (colour, frames): the colour video's script; grey predicts every class at 1/3, below any sane min_score.
COLOUR_SCRIPT = (
    ("grey", 10),
    ("red", 15),
    ("grey", 10),
    ("blue", 15),
    ("grey", 5),
    ("green", 10),
    ("grey", 5),
    ("red", 10),
    ("grey", 10),
)
COLOUR_FPS = 10.0
TRUTH_LABELS = ("red", "blue")  # the colours the tests' rules watch; green has no rule


def colour_classifier() -> onnx.ModelProto:
    """images [N,3,32,32] RGB in 0..1 -> GlobalAveragePool -> Flatten -> Gemm: logits by dominant colour."""
    images = helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, TINY_SIZE, TINY_SIZE])
    logits = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", len(TINY_CLASSES)])
    weight = numpy_helper.from_array(np.eye(3, dtype=np.float32) * COLOUR_GAIN, "weight")
    bias = numpy_helper.from_array(np.zeros(3, dtype=np.float32), "bias")
    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["images"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
            helper.make_node("Gemm", ["flat", "weight", "bias"], ["logits"], transB=1),
        ],
        "tiny_colour",
        [images],
        [logits],
        initializer=[weight, bias],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="adit-tests")
    model.ir_version = 8  # opset 17's IR version; newer IRs than the runtime knows are refused
    onnx.checker.check_model(model, full_check=True)
    return model


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A verified classification bundle (ONNX FP32 + OpenVINO FP32) that tells red, green and blue apart."""
    root = tmp_path_factory.mktemp("tiny") / "bundle"
    (root / "openvino").mkdir(parents=True)
    onnx_path = root / "model.onnx"
    onnx.save(colour_classifier(), onnx_path)
    xml_path = root / "openvino" / "model.xml"
    ov.save_model(ov.convert_model(str(onnx_path)), str(xml_path), compress_to_fp16=False)
    onnx_digest, xml_digest = file_digest(onnx_path, root), file_digest(xml_path, root)
    manifest = Manifest(
        name="tiny-colour",
        task="classify",
        classes=list(TINY_CLASSES),
        input=InputSpec(
            size=(TINY_SIZE, TINY_SIZE), colour="rgb", mean=(0, 0, 0), std=(1, 1, 1), scale=1 / 255
        ),
        artifacts=[
            Artifact(**onnx_digest.model_dump(), format="onnx", precision="fp32"),
            Artifact(
                **xml_digest.model_dump(),
                format="openvino",
                precision="fp32",
                weights=file_digest(xml_path.with_suffix(".bin"), root),
            ),
        ],
        provenance={"made_by": "tests/conftest.py (hand-set weights, no training)"},
    )
    write_manifest(root, manifest)
    return root


@dataclass(frozen=True)
class ColourVideo:
    path: Path
    truth_path: Path  # truth.jsonl for the red and blue intervals
    truth: list[dict[str, object]]
    fps: float
    frames: int


@pytest.fixture
def colour_video(tmp_path: Path) -> ColourVideo:
    """A 90-frame MJPG .avi of solid colours in the known frame ranges of ``COLOUR_SCRIPT``."""
    path = tmp_path / "colours.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), COLOUR_FPS, (64, 48))
    if not writer.isOpened():
        pytest.fail("OpenCV cannot write MJPG .avi files on this machine")
    truth, frame = [], 0
    for colour, count in COLOUR_SCRIPT:
        for _ in range(count):
            writer.write(np.full((48, 64, 3), BGR[colour], dtype=np.uint8))
        if colour in TRUTH_LABELS:
            truth.append(
                {
                    "type": f"{colour}_seen",
                    "label": colour,
                    "start_frame": frame,
                    "end_frame": frame + count - 1,
                }
            )
        frame += count
    writer.release()
    truth_path = tmp_path / "truth.jsonl"
    truth_path.write_text("".join(json.dumps(item) + "\n" for item in truth), encoding="utf-8")
    return ColourVideo(path=path, truth_path=truth_path, truth=truth, fps=COLOUR_FPS, frames=frame)
