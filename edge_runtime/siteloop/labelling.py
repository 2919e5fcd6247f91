"""Captured frames out to labelling tools, with the model's predictions as pre-annotations.

Three formats, each a writer registered by name: ``cvat-xml`` (CVAT for images 1.1: image tags for
classification, boxes for detection), ``coco`` (COCO 1.0 instances, which CVAT imports: detection
only) and ``label-studio`` (a JSON list of tasks with ``predictions``, plus the labelling configuration
the project needs). Operator feedback corrects the pre-annotation before it leaves: a relabel changes
the event's class, a false alarm removes it, a confirmation keeps it. Segmentation captures leave as
images without pre-annotations (masks are drawn in the tool).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from edge_runtime.registry import Registry
from edge_runtime.siteloop.captures import Capture
from edge_runtime.web.acks import Feedback

LS_IMAGE_URL = "/data/local-files/?d=images/"  # Label Studio's local-storage URL form; --image-url changes it


@dataclass(frozen=True)
class Box:
    label: str
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in 0..1 of the image
    score: float | None = None


@dataclass(frozen=True)
class Labelled:
    """One image and what is said about it: a class (classification) and/or boxes (detection)."""

    image: Path
    width: int
    height: int
    tag: str | None = None
    boxes: list[Box] = field(default_factory=list)
    score: float | None = None  # the model's confidence, for pre-annotations
    note: dict[str, Any] = field(default_factory=dict)  # where it came from (reasons, bundle, feedback)


def pre_annotation(capture: Capture, feedback: Feedback | None) -> Labelled:
    """What the model said about a capture, corrected by the operator's feedback on its event."""
    prediction = capture.prediction
    note = {
        "capture": capture.id,
        "camera": capture.camera,
        "frame": capture.frame,
        "ts": capture.ts,
        "reasons": capture.reasons,
        "bundle": f"{capture.bundle.name} {capture.bundle.version}",
        "artifact": capture.bundle.artifact,
    }
    if feedback is not None:
        note["feedback"] = {"verdict": feedback.verdict, "label": feedback.label, "by": feedback.by}
    item = Labelled(capture.path, capture.width, capture.height, note=note)
    if prediction["task"] == "classify":
        item = replace(item, tag=prediction["label"], score=prediction["score"])
    elif prediction["task"] == "detect":
        boxes = [Box(o["label"], tuple(o["box"]), o["score"]) for o in prediction["objects"]]
        item = replace(item, boxes=boxes, score=max((b.score or 0.0 for b in boxes), default=None))
    if feedback is None or feedback.verdict == "confirmed":
        return item
    wrong = feedback.event_label
    if feedback.verdict == "relabel":
        right = feedback.label or wrong
        return replace(
            item,
            tag=right if item.tag is not None else None,
            boxes=[replace(b, label=right) if b.label == wrong else b for b in item.boxes],
        )
    return replace(item, tag=None, boxes=[b for b in item.boxes if b.label != wrong])  # a false alarm


Writer = Callable[[list[Labelled], Sequence[str], Path, dict[str, Any]], list[Path]]
_WRITERS: Registry[Writer] = Registry("labelling export format")
list_formats = _WRITERS.names


def export(
    items: Iterable[Labelled], classes: Sequence[str], out: Path, fmt: str, **options: Any
) -> list[Path]:
    """Copy the images into ``out/images`` and write the task file(s) of ``fmt``; the files written."""
    writer = _WRITERS.get(fmt)
    if writer is None:
        raise ValueError(f"unknown labelling format {fmt!r}; known: {', '.join(list_formats())}")
    images = out / "images"
    images.mkdir(parents=True, exist_ok=True)
    copied = []
    for item in items:
        shutil.copy2(item.image, images / item.image.name)
        copied.append(replace(item, image=images / item.image.name))
    notes = out / "captures.jsonl"
    notes.write_text("".join(json.dumps({"image": i.image.name, **i.note}) + "\n" for i in copied))
    return [*writer(copied, classes, out, options), notes]


def _pixels(item: Labelled, box: Box) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = box.box
    return x1 * item.width, y1 * item.height, x2 * item.width, y2 * item.height


@_WRITERS.register("cvat-xml")
def _cvat_xml(
    items: list[Labelled], classes: Sequence[str], out: Path, options: dict[str, Any]
) -> list[Path]:
    """CVAT for images 1.1: ``annotations.xml``; upload the images as a task, then import this file."""
    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = "1.1"
    task = ET.SubElement(ET.SubElement(root, "meta"), "task")
    ET.SubElement(task, "name").text = options.get("name", "adit hard examples")
    ET.SubElement(task, "size").text = str(len(items))
    ET.SubElement(task, "mode").text = "annotation"
    labels = ET.SubElement(task, "labels")
    for name in classes:
        label = ET.SubElement(labels, "label")
        ET.SubElement(label, "name").text = name
        ET.SubElement(label, "attributes")
    for index, item in enumerate(items):
        image = ET.SubElement(
            root, "image", id=str(index), name=item.image.name, width=str(item.width), height=str(item.height)
        )
        if item.tag is not None:
            ET.SubElement(image, "tag", label=item.tag, source="auto")
        for box in item.boxes:
            x1, y1, x2, y2 = _pixels(item, box)
            ET.SubElement(
                image,
                "box",
                label=box.label,
                source="auto",
                occluded="0",
                z_order="0",
                xtl=f"{x1:.2f}",
                ytl=f"{y1:.2f}",
                xbr=f"{x2:.2f}",
                ybr=f"{y2:.2f}",
            )
    path = out / "annotations.xml"
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return [path]


@_WRITERS.register("coco")
def _coco(items: list[Labelled], classes: Sequence[str], out: Path, options: dict[str, Any]) -> list[Path]:
    """COCO 1.0 instances (CVAT's layout: ``annotations/instances_default.json`` beside ``images/``)."""
    if any(item.tag is not None for item in items):
        raise ValueError(
            "COCO has no image-level classes: export classification captures as cvat-xml or label-studio"
        )
    ids = {name: i + 1 for i, name in enumerate(classes)}
    annotations: list[dict[str, Any]] = []
    for index, item in enumerate(items, start=1):
        for box in item.boxes:
            x1, y1, x2, y2 = _pixels(item, box)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": index,
                    "category_id": ids[box.label],
                    "bbox": [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)],
                    "area": round((x2 - x1) * (y2 - y1), 2),
                    "iscrowd": 0,
                    "segmentation": [],
                    "attributes": {"occluded": False},
                    **({"score": box.score} if box.score is not None else {}),
                }
            )
    document = {
        "info": {"description": options.get("name", "adit hard examples")},
        "licenses": [],
        "categories": [{"id": i, "name": name, "supercategory": ""} for name, i in ids.items()],
        "images": [
            {"id": index, "file_name": item.image.name, "width": item.width, "height": item.height}
            for index, item in enumerate(items, start=1)
        ],
        "annotations": annotations,
    }
    path = out / "annotations" / "instances_default.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(document, indent=1))
    return [path]


def label_studio_config(classes: Sequence[str], detect: bool) -> str:
    """The project's labelling configuration: single-choice classes, or rectangles with labels."""
    values = "".join(f'<{"Label" if detect else "Choice"} value="{_xml(name)}"/>' for name in classes)
    control = (
        f'<RectangleLabels name="label" toName="image">{values}</RectangleLabels>'
        if detect
        else f'<Choices name="choice" toName="image" choice="single">{values}</Choices>'
    )
    return f'<View><Image name="image" value="$image"/>{control}</View>'


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


@_WRITERS.register("label-studio")
def _label_studio(
    items: list[Labelled], classes: Sequence[str], out: Path, options: dict[str, Any]
) -> list[Path]:
    """``tasks.json`` (import it into a project) and ``label_config.xml`` (the project's configuration)."""
    detect = any(item.boxes for item in items) or options.get("task") == "detect"
    url = options.get("image_url") or LS_IMAGE_URL
    tasks = []
    for item in items:
        result: list[dict[str, Any]] = []
        if item.tag is not None:
            result.append(
                {
                    "id": "tag",
                    "from_name": "choice",
                    "to_name": "image",
                    "type": "choices",
                    "value": {"choices": [item.tag]},
                }
            )
        for number, box in enumerate(item.boxes):
            x1, y1, x2, y2 = box.box
            result.append(
                {
                    "id": f"box{number}",
                    "from_name": "label",
                    "to_name": "image",
                    "type": "rectanglelabels",
                    "original_width": item.width,
                    "original_height": item.height,
                    "image_rotation": 0,
                    "value": {
                        "x": x1 * 100,
                        "y": y1 * 100,
                        "width": (x2 - x1) * 100,
                        "height": (y2 - y1) * 100,
                        "rotation": 0,
                        "rectanglelabels": [box.label],
                    },
                    **({"score": box.score} if box.score is not None else {}),
                }
            )
        prediction = {"model_version": item.note.get("bundle", "adit"), "result": result}
        if item.score is not None:
            prediction["score"] = item.score
        tasks.append(
            {"data": {"image": url + item.image.name, "adit": item.note}, "predictions": [prediction]}
        )
    path, config = out / "tasks.json", out / "label_config.xml"
    path.write_text(json.dumps(tasks, indent=1))
    config.write_text(label_studio_config(classes, detect) + "\n")
    return [path, config]
