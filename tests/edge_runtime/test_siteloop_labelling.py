"""Captures out as CVAT / COCO / Label Studio tasks with pre-annotations, checked by the tools' own code
(cvat-sdk's annotation models, Label Studio SDK's label interface, pycocotools), and labels read back."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import cv2
import numpy as np
import pytest
import yaml
from cvat_sdk import models
from cvat_sdk.auto_annotation import label_spec
from label_studio_sdk.label_interface import LabelInterface
from pycocotools.coco import COCO

from edge_runtime.errors import ConfigError
from edge_runtime.siteloop.captures import BundleTag, Capture
from edge_runtime.siteloop.labelling import Box, Labelled, export, pre_annotation
from edge_runtime.siteloop.labels_in import read_labels, write_dataset
from edge_runtime.web.acks import Feedback

CLASSES = ["person", "rock", "bolt"]


def _capture(tmp_path: Path, number: int, prediction: dict, events: tuple[str, ...] = ()) -> Capture:
    path = tmp_path / "device" / f"cam1_{number:08d}_1700000000000.jpg"
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((48, 64, 3), 40 * number % 255, np.uint8))
    return Capture(
        id=number,
        path=path,
        camera="cam1",
        frame=number,
        ts="2026-01-31T06:00:00.000+00:00",
        reasons=["near_threshold"],
        bundle=BundleTag("belt", "1.0.0", "openvino-int8"),
        prediction=prediction,
        shadow=None,
        width=64,
        height=48,
        event_ids=list(events),
    )


def _detected(*objects: tuple[str, float, list[float]]) -> dict:
    return {"task": "detect", "objects": [{"label": n, "score": s, "box": b} for n, s, b in objects]}


def _feedback(verdict: str, label: str | None = None, of: str = "person") -> Feedback:
    return Feedback("a" * 32, verdict, label, "Li", "2026-01-31T06:01:00.000+00:00", None, of)


def test_feedback_corrects_the_pre_annotation(tmp_path):
    capture = _capture(
        tmp_path, 1, _detected(("person", 0.55, [0.1, 0.1, 0.3, 0.5]), ("rock", 0.9, [0.5, 0.5, 0.7, 0.7]))
    )
    assert [b.label for b in pre_annotation(capture, None).boxes] == ["person", "rock"]
    assert [b.label for b in pre_annotation(capture, _feedback("false_alarm")).boxes] == ["rock"]
    assert [b.label for b in pre_annotation(capture, _feedback("relabel", "bolt")).boxes] == ["bolt", "rock"]
    assert pre_annotation(capture, _feedback("confirmed")).boxes == pre_annotation(capture, None).boxes
    classified = _capture(
        tmp_path, 2, {"task": "classify", "label": "rock", "score": 0.4, "probabilities": {}}
    )
    assert pre_annotation(classified, None).tag == "rock"
    assert pre_annotation(classified, _feedback("relabel", "bolt", of="rock")).tag == "bolt"
    assert pre_annotation(classified, _feedback("false_alarm", of="rock")).tag is None
    assert pre_annotation(classified, None).note["bundle"] == "belt 1.0.0"


def _items(tmp_path: Path) -> list[Labelled]:
    return [
        pre_annotation(_capture(tmp_path, 1, _detected(("person", 0.55, [0.1, 0.2, 0.3, 0.6]))), None),
        pre_annotation(_capture(tmp_path, 2, _detected()), None),  # nothing found: still worth a look
        pre_annotation(
            _capture(
                tmp_path,
                3,
                _detected(("rock", 0.7, [0.5, 0.5, 0.9, 0.8]), ("bolt", 0.6, [0.0, 0.0, 0.2, 0.1])),
            ),
            None,
        ),
    ]


def test_cvat_xml_maps_onto_cvat_annotation_models(tmp_path):
    export(_items(tmp_path), CLASSES, tmp_path / "cvat", "cvat-xml")
    root = ET.parse(tmp_path / "cvat" / "annotations.xml").getroot()
    assert root.findtext("version") == "1.1"
    names = [label.findtext("name") for label in root.iter("label")]
    specs = [label_spec(name, i) for i, name in enumerate(names)]  # the labels a CVAT task is created with
    ids = {spec.name: spec.id for spec in specs}
    tags, shapes = [], []
    for image in root.iter("image"):
        frame, width, height = int(image.get("id")), float(image.get("width")), float(image.get("height"))
        assert (tmp_path / "cvat" / "images" / image.get("name")).is_file()
        for item in image.iter("tag"):
            tags.append(
                models.LabeledImageRequest(frame=frame, label_id=ids[item.get("label")], source="auto")
            )
        for box in image.iter("box"):
            points = [float(box.get(k)) for k in ("xtl", "ytl", "xbr", "ybr")]
            assert 0 <= points[0] < points[2] <= width and 0 <= points[1] < points[3] <= height
            shapes.append(
                models.LabeledShapeRequest(
                    type=models.ShapeType("rectangle"),
                    frame=frame,
                    label_id=ids[box.get("label")],
                    points=points,
                    occluded=box.get("occluded") == "1",
                    z_order=int(box.get("z_order")),
                    source=box.get("source"),
                )
            )
    request = models.LabeledDataRequest(version=0, tags=tags, shapes=shapes, tracks=[])
    assert len(request.shapes) == 3 and request.shapes[0].points == pytest.approx([6.4, 9.6, 19.2, 28.8])


def test_label_studio_tasks_validate_against_their_labelling_config(tmp_path):
    export(_items(tmp_path), CLASSES, tmp_path / "ls", "label-studio")
    interface = LabelInterface((tmp_path / "ls" / "label_config.xml").read_text())
    tasks = json.loads((tmp_path / "ls" / "tasks.json").read_text())
    assert len(tasks) == 3 and all(interface.validate_prediction(t["predictions"][0]) for t in tasks)
    bad = {"model_version": "x", "result": [{**tasks[0]["predictions"][0]["result"][0]}]}
    bad["result"][0]["value"] = {**bad["result"][0]["value"], "rectanglelabels": ["dragon"]}
    assert not interface.validate_prediction(bad)  # the check can fail
    classified = [
        pre_annotation(
            _capture(tmp_path, 4, {"task": "classify", "label": "bolt", "score": 0.5, "probabilities": {}}),
            None,
        )
    ]
    export(classified, CLASSES, tmp_path / "ls-classify", "label-studio", task="classify")
    interface = LabelInterface((tmp_path / "ls-classify" / "label_config.xml").read_text())
    (task,) = json.loads((tmp_path / "ls-classify" / "tasks.json").read_text())
    assert interface.validate_prediction(task["predictions"][0])
    assert task["predictions"][0]["result"][0]["value"] == {"choices": ["bolt"]}


def test_coco_export_loads_in_pycocotools_and_refuses_classification(tmp_path):
    export(_items(tmp_path), CLASSES, tmp_path / "coco", "coco")
    coco = COCO(str(tmp_path / "coco" / "annotations" / "instances_default.json"))
    assert len(coco.getImgIds()) == 3 and len(coco.getAnnIds()) == 3
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == CLASSES
    classified = [Labelled(tmp_path / "device" / "cam1_00000001_1700000000000.jpg", 64, 48, tag="rock")]
    with pytest.raises(ValueError, match="COCO has no image-level classes"):
        export(classified, CLASSES, tmp_path / "coco2", "coco")


def test_labels_come_back_from_coco_label_studio_and_yolo_as_training_data(tmp_path):
    items = _items(tmp_path)
    export(items, CLASSES, tmp_path / "task", "coco")
    export(items, CLASSES, tmp_path / "task-ls", "label-studio")
    images = tmp_path / "task" / "images"
    from_coco = read_labels("coco", tmp_path / "task" / "annotations", images)
    assert [len(i.boxes) for i in from_coco] == [1, 0, 2]
    assert from_coco[0].boxes[0].box == pytest.approx((0.1, 0.2, 0.3, 0.6))
    # what Label Studio exports after an annotator accepted and fixed the predictions
    tasks = json.loads((tmp_path / "task-ls" / "tasks.json").read_text())
    tasks[0]["annotations"] = [
        {
            "was_cancelled": False,
            "result": [
                {
                    **tasks[0]["predictions"][0]["result"][0],
                    "value": {
                        **tasks[0]["predictions"][0]["result"][0]["value"],
                        "rectanglelabels": ["bolt"],
                    },
                }
            ],
        }
    ]
    tasks[1]["annotations"] = [{"was_cancelled": True, "result": []}]
    tasks[2]["data"]["image"] = (
        "/data/upload/3/1a2b3c4d-" + Path(tasks[2]["data"]["image"]).name.split("=")[-1]
    )
    tasks[2]["annotations"] = [{"result": tasks[2]["predictions"][0]["result"]}]
    exported = tmp_path / "ls-export.json"
    exported.write_text(json.dumps(tasks))
    from_ls = read_labels("label-studio", exported, images)
    assert [[b.label for b in i.boxes] for i in from_ls] == [["bolt"], ["rock", "bolt"]]
    summary = write_dataset(from_ls, tmp_path / "detect", "detect", CLASSES)
    assert summary == {"images": 2, "boxes": 3}
    assert yaml.safe_load((tmp_path / "detect" / "data.yaml").read_text())["names"] == CLASSES
    back = read_labels("yolo", tmp_path / "detect", tmp_path / "detect" / "images")  # YOLO round trip
    assert [[b.label for b in i.boxes] for i in back] == [["bolt"], ["rock", "bolt"]]
    assert back[0].boxes[0].box == pytest.approx((0.1, 0.2, 0.3, 0.6), abs=1e-5)


def test_classification_labels_become_class_folders_and_bad_labels_are_refused(tmp_path):
    image = tmp_path / "device" / "x.jpg"
    image.parent.mkdir()
    cv2.imwrite(str(image), np.zeros((8, 8, 3), np.uint8))
    items = [Labelled(image, 8, 8, tag="rock"), Labelled(image, 8, 8)]
    assert write_dataset(items, tmp_path / "cls", "classify", CLASSES) == {"images": 1, "unlabelled": 1}
    assert (tmp_path / "cls" / "rock" / "x.jpg").is_file()
    with pytest.raises(ConfigError, match="dragon"):
        write_dataset(
            [Labelled(image, 8, 8, boxes=[Box("dragon", (0, 0, 1, 1))])], tmp_path / "d", "detect", CLASSES
        )
    with pytest.raises(ConfigError, match="not a Label Studio JSON export"):
        (tmp_path / "bad.json").write_text('[{"annotations": [{"result": [{"type": "choices"}]}]}]')
        read_labels("label-studio", tmp_path / "bad.json", tmp_path / "device")
