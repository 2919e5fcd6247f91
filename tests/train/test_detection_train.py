"""Detection training: the three label formats read the same boxes; a tiny detector trains and evaluates."""

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch

from train.__main__ import main as train_main
from train.checkpoint import read_checkpoint
from train.data import DataError
from train.detection.data import read_detection_split
from train.models import ModelRequest, WeightsError, build_model, list_models


def _write_coco(samples, classes, root):
    images, annotations = [], []
    for image_id, sample in enumerate(samples):
        images.append({"id": image_id, "file_name": str(sample.path), "width": 384, "height": 216})
        for box, label in zip(sample.boxes, sample.labels, strict=True):
            x1, y1, x2, y2 = map(float, box)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": int(label) + 1,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "iscrowd": 0,
                }
            )
    categories = [{"id": i + 1, "name": name} for i, name in enumerate(classes)]
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "test.json").write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories})
    )


def _write_voc(samples, classes, root):
    for folder in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (root / folder).mkdir(parents=True)
    for sample in samples:
        (root / "JPEGImages" / sample.path.name).write_bytes(sample.path.read_bytes())
        node = ET.Element("annotation")
        ET.SubElement(node, "filename").text = sample.path.name
        for box, label in zip(sample.boxes, sample.labels, strict=True):
            obj = ET.SubElement(node, "object")
            ET.SubElement(obj, "name").text = classes[label]
            bndbox = ET.SubElement(obj, "bndbox")
            for key, value in zip(("xmin", "ymin", "xmax", "ymax"), box, strict=True):
                ET.SubElement(bndbox, key).text = f"{value:.3f}"
        ET.ElementTree(node).write(root / "Annotations" / f"{sample.path.stem}.xml")
    (root / "ImageSets" / "Main" / "test.txt").write_text("\n".join(s.path.stem for s in samples))


def test_yolo_coco_and_voc_readers_agree(tiny_data, tmp_path):
    classes, yolo = read_detection_split(tiny_data / "detect", "test", "yolo")
    assert classes[0] == "person" and sum(len(s.boxes) for s in yolo) > 0
    _write_coco(yolo, classes, tmp_path / "coco")
    _write_voc(yolo, classes, tmp_path / "voc")
    _, coco = read_detection_split(tmp_path / "coco", "test", "coco")
    _, voc = read_detection_split(tmp_path / "voc", "test", "voc", classes)
    for a, b, c in zip(yolo, coco, voc, strict=True):
        np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-3)
        np.testing.assert_allclose(a.boxes, c.boxes, atol=1e-2)
        assert list(a.labels) == list(b.labels) == list(c.labels)


def test_missing_layout_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="data.yaml"):
        read_detection_split(tmp_path, "train", "yolo")


def test_tiny_detector_trains_and_reports_coco_map(tiny_detector_checkpoint):
    meta = read_checkpoint(tiny_detector_checkpoint).meta
    assert meta.task == "detect" and meta.classes[:3] == ["person", "helmet", "head"]
    assert meta.interface.input.size == (96, 160) and meta.model.arguments["image_size"] == [96, 160]
    assert meta.interface.postprocess.type == "boxes"
    out = tiny_detector_checkpoint.parent
    test = json.loads((out / "metrics.json").read_text())["test"]
    assert test["metric"] == "map50" and 0.0 <= test["figures"]["map"] <= test["value"] <= 1.0
    assert test["per_class"] and test["samples"] == 4
    assert len((out / "log.jsonl").read_text().splitlines()) == 2
    assert "task: detect" in (out / "config.yaml").read_text()


@pytest.mark.parametrize("name", list_models("detect"))
def test_every_detector_gets_a_head_for_the_data_classes(name):
    """The last of 3 classes is label 3 (0 is the background): the loss accepts it and refuses 4."""
    model = build_model("detect", name, ModelRequest(3, "none", image_size=(96, 96))).module.train()
    images = [torch.rand(3, 96, 96), torch.rand(3, 96, 96)]  # two: BatchNorm cannot train on one 1x1 map
    target = {"boxes": torch.tensor([[8.0, 8.0, 60.0, 60.0]]), "labels": torch.tensor([3])}
    losses = model(images, [target, target])
    assert all(torch.isfinite(v) for v in losses.values())
    with pytest.raises((IndexError, RuntimeError)):
        model(images, [target, {"boxes": target["boxes"], "labels": torch.tensor([4])}])


def test_offline_download_names_how_to_stage_weights(monkeypatch):
    import torchvision.models._api as api

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(api, "load_state_dict_from_url", offline)
    with pytest.raises(WeightsError, match="checkpoints"):
        build_model(
            "detect", "ssdlite320_mobilenet_v3_large", ModelRequest(3, "DEFAULT", image_size=(64, 64))
        )


def test_detect_config_is_validated_by_the_cli(tmp_path, capsys):
    config = tmp_path / "detect.yaml"
    config.write_text("task: detect\nmodel:\n  name: ssdlite320_mobilenet_v3_large\n")
    assert train_main(["fit", "--config", str(config), "--validate", "model.score_threshold=2"]) == 2
    assert "model.score_threshold" in capsys.readouterr().err
