"""Session fixtures for detection and segmentation: tiny checkpoints and bundles on tiny generated data.

The smallest torchvision models at tiny input sizes, from random weights (no download): they
train in seconds and exercise every stage the demo runs, not accuracy.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_detector_checkpoint(tiny_data, tmp_path_factory) -> Path:
    from train.detection.config import DetectTrainConfig
    from train.engine import fit

    out = tmp_path_factory.mktemp("train-detect")
    config = DetectTrainConfig.model_validate(
        {
            "out": str(out),
            "data": {"root": str(tiny_data / "detect"), "image_size": [96, 160], "workers": 0},
            "model": {"name": "ssdlite320_mobilenet_v3_large", "weights": "none"},
            "optim": {
                "epochs": 2,
                "batch_size": 4,
                "lr": 0.003,
                # from random weights: nothing pretrained to protect (torchvision's SSDlite has no stages)
                "freeze_bn": False,
                "freeze_stages": None,
                "precise_bn": True,
                "ema": 0,
            },
        }
    )
    fit(config)
    return out / "best.pt"


@pytest.fixture(scope="session")
def tiny_segmenter_checkpoint(tiny_data, tmp_path_factory) -> Path:
    from train.engine import fit
    from train.segmentation.config import SegmentTrainConfig

    out = tmp_path_factory.mktemp("train-segment")
    config = SegmentTrainConfig.model_validate(
        {
            "out": str(out),
            "data": {"root": str(tiny_data / "segment"), "image_size": [64, 96], "workers": 0},
            "model": {"name": "lraspp_mobilenet_v3_large", "weights": "none"},
            "optim": {"epochs": 2, "batch_size": 3, "lr": 0.005},
        }
    )
    fit(config)
    return out / "best.pt"


@pytest.fixture(scope="session")
def tiny_detector_bundle(tiny_detector_checkpoint, tmp_path_factory) -> Path:
    from export.build import ExportRequest, export_bundle
    from export.gate import Floor

    out = tmp_path_factory.mktemp("bundles") / "tiny-detect"
    formats = ("onnx-fp32", "openvino-fp32", "onnx-int8", "openvino-int8")
    # seconds of training: far below the floor; these bundles exercise the stages, not accuracy
    request = ExportRequest(
        checkpoint=tiny_detector_checkpoint,
        out=out,
        formats=formats,
        calibration_size=6,
        floor=Floor(accept_below=True),
        # the ladder's NNCF accuracy control took 4 of this fixture's 5 minutes on a random-weight
        # detector; tests/export/test_gate_ladder.py covers the ladder
        fix_ladder=False,
    )
    export_bundle(request)
    return out


@pytest.fixture(scope="session")
def tiny_segmenter_bundle(tiny_segmenter_checkpoint, tmp_path_factory) -> Path:
    from export.build import ExportRequest, export_bundle
    from export.gate import Floor

    out = tmp_path_factory.mktemp("bundles") / "tiny-segment"
    floor = Floor(accept_below=True)  # seconds of training: the bundle exercises the stages, not accuracy
    export_bundle(
        ExportRequest(checkpoint=tiny_segmenter_checkpoint, out=out, calibration_size=6, floor=floor)
    )
    return out
