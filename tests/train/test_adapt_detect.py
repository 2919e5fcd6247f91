"""Retraining a detector from its bundle: the site's boxes as the labelling import writes them (YOLO, or a
COCO file), a replay of the original data, and the export's site figure in mAP@0.5."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.errors import ConfigError
from edge_runtime.siteloop.labelling import Box, Labelled
from edge_runtime.siteloop.labels_in import write_dataset
from train.adapt import with_site_labels
from train.detection.config import DetectTrainConfig
from train.detection.data import BoxSample, read_detection_split
from train.task import get_task


def _test_split(tiny_data: Path) -> tuple[list[str], list[BoxSample]]:
    return read_detection_split(tiny_data / "detect", "test", "yolo")


def _as_labelled(samples: list[BoxSample], classes: list[str]) -> list[Labelled]:
    """What a labelling tool gives back: boxes in 0..1 of the image (the frames are 384x216)."""
    width, height = 384, 216
    return [
        Labelled(
            s.path,
            width,
            height,
            boxes=[
                Box(classes[label], (b[0] / width, b[1] / height, b[2] / width, b[3] / height))
                for b, label in zip(s.boxes, s.labels, strict=True)
            ],
        )
        for s in samples
    ]


def _site(tiny_data: Path, out: Path) -> tuple[list[str], list[BoxSample], Path]:
    classes, samples = _test_split(tiny_data)
    write_dataset(_as_labelled(samples, classes), out, "detect", classes)
    return classes, samples, out


def test_the_import_s_yolo_comes_back_as_the_same_boxes(tiny_data, tmp_path):
    classes, samples, site = _site(tiny_data, tmp_path / "site")
    read = get_task("detect").read_labelled(site, classes)
    assert [s.path.name for s in read] == [s.path.name for s in samples]
    for got, want in zip(read, samples, strict=True):
        assert got.labels.tolist() == want.labels.tolist()
        assert np.abs(got.boxes - want.boxes).max(initial=0.0) < 0.01  # 6 decimals of 0..1 coordinates
    with pytest.raises(ConfigError, match="data.yaml names"):
        get_task("detect").read_labelled(site, list(reversed(classes)))


def test_a_coco_file_from_the_labelling_tool_is_read_too(tiny_data, tmp_path):
    classes, samples = _test_split(tiny_data)
    site = tmp_path / "coco"
    (site / "images").mkdir(parents=True)
    images, annotations = [], []
    for number, sample in enumerate(samples, 1):
        shutil.copy2(sample.path, site / "images" / sample.path.name)
        images.append({"id": number, "file_name": sample.path.name, "width": 384, "height": 216})
        for box, label in zip(sample.boxes.tolist(), sample.labels.tolist(), strict=True):
            xywh = [box[0], box[1], box[2] - box[0], box[3] - box[1]]
            annotations.append({"id": len(annotations) + 1, "image_id": number, "category_id": label + 1,
                                "bbox": xywh, "area": xywh[2] * xywh[3], "iscrowd": 0})  # fmt: skip
    categories = [{"id": i + 1, "name": name} for i, name in enumerate(classes)]
    (site / "annotations").mkdir()
    document = {"images": images, "annotations": annotations, "categories": categories}
    (site / "annotations" / "instances_default.json").write_text(json.dumps(document))
    read = get_task("detect").read_labelled(site, classes)
    assert sum(len(s.labels) for s in read) == sum(len(s.labels) for s in samples) > 0
    assert all(s.path.is_file() for s in read)
    with pytest.raises(ConfigError, match="neither data.yaml"):
        get_task("detect").read_labelled(tmp_path, classes)


def test_retrain_a_detector_from_its_bundle_with_replay_then_export_reports_map(
    tiny_detector_bundle, tiny_data, tmp_path
):
    from export.build import ExportRequest, export_bundle
    from train.checkpoint import read_checkpoint
    from train.engine import fit

    _, new, site = _site(tiny_data, tmp_path / "site")
    config = DetectTrainConfig.model_validate(
        {
            "out": str(tmp_path / "run"),
            "data": {"root": str(tiny_data / "detect"), "image_size": [96, 160], "workers": 0},
            "model": {"name": "ssdlite320_mobilenet_v3_large", "weights": "none"},
            "optim": {"epochs": 1, "batch_size": 4, "freeze_bn": False, "freeze_stages": None},
            "init_from": str(tiny_detector_bundle),
            "site": {"data": str(site), "replay": 0.5},
        }
    )
    task = get_task("detect")
    original = task.read_data(config)
    data = with_site_labels(task, config, original)
    assert len(data.train) == len(new) + round(0.5 * len(original.train))
    assert data.val == original.val and data.test == original.test

    fit(config)
    assert read_checkpoint(tmp_path / "run" / "best.pt").meta.config["site"]["data"] == str(site)
    from export.gate import Floor

    out = tmp_path / "bundle"
    floor = Floor(accept_below=True)  # seconds of training from random weights: far below any floor
    checkpoint = tmp_path / "run" / "best.pt"
    request = ExportRequest(checkpoint, out, formats=("onnx-fp32",), site_data=site, floor=floor)
    export_bundle(request)
    evaluation = json.loads((out / "manifest.json").read_text())["provenance"]["site_evaluation"]
    assert evaluation["metric"] == "map50" and evaluation["samples"] == len(new)
    assert 0.0 <= evaluation["artifacts"]["onnx-fp32"]["site"] <= 1.0


def test_the_site_round_s_detector_is_the_pretrained_recipe_at_the_generated_frames_shape():
    import yaml

    from train.synth.datasets import DETECT_SIZE

    repo = Path(__file__).resolve().parents[2]
    config = DetectTrainConfig.model_validate(
        yaml.safe_load((repo / "configs" / "train-detect-site.yaml").read_text())
    )
    assert config.model.name == "fcos_efficientnet_lite0_fpn" and config.model.weights == "DEFAULT"
    recipe = {"epochs": config.optim.epochs, "patience": config.optim.patience}  # all else: the defaults
    assert config.optim == DetectTrainConfig().optim.model_copy(update=recipe)
    height, width = config.data.image_size
    frame_width, frame_height = DETECT_SIZE
    assert abs(width / height - frame_width / frame_height) < 0.1 * frame_width / frame_height  # 16:9
    assert config.data.root == Path("runs/site-adapt/data/detect")  # python -m train.synth --preset site
