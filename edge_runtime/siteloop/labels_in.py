"""Corrected labels back from the labelling tools, written as data ``train`` reads.

Readers, registered by name: ``yolo`` (``labels/*.txt`` with ``data.yaml``, ``classes.txt`` or
``obj.names`` for the names: CVAT's and Label Studio's YOLO exports), ``coco`` (instances JSON: CVAT's
COCO 1.0 export) and ``label-studio`` (Label Studio's JSON export: the newest annotation of each task
that was not cancelled). Each gives ``Labelled`` images; ``write_dataset`` lays them out as class
folders (classification) or as YOLO detection data (``images/``, ``labels/``, ``data.yaml``).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import cv2
import yaml

from edge_runtime.errors import ConfigError
from edge_runtime.registry import Registry
from edge_runtime.siteloop.labelling import Box, Labelled
from edge_runtime.sources import IMAGE_SUFFIXES

Reader = Callable[[Path, Path], list[Labelled]]
_READERS: Registry[Reader] = Registry("labels format")
list_readers = _READERS.names


def read_labels(fmt: str, labels: Path, images: Path) -> list[Labelled]:
    """Labels of ``fmt`` from ``labels`` (a file or folder), for the image files under ``images``."""
    reader = _READERS.get(fmt)
    if reader is None:
        raise ConfigError(f"unknown labels format {fmt!r}; known: {', '.join(list_readers())}")
    if not Path(labels).exists():
        raise ConfigError(f"{labels}: not found")
    return reader(Path(labels), Path(images))


class _Images:
    """The image files under a folder, found by name (labelling tools keep only the file name)."""

    def __init__(self, folder: Path) -> None:
        self.by_name = {p.name: p for p in sorted(folder.rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES}
        if not self.by_name:
            raise ConfigError(f"{folder}: no images")
        self.folder = folder

    def find(self, name: str) -> Path:
        base = Path(name).name
        if base in self.by_name:
            return self.by_name[base]
        # Label Studio stores uploads as "<8 hex>-<name>"
        if "-" in base and base.split("-", 1)[1] in self.by_name:
            return self.by_name[base.split("-", 1)[1]]
        raise ConfigError(f"{name}: no such image under {self.folder}")


def _size(path: Path) -> tuple[int, int]:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ConfigError(f"{path}: not a readable image")
    return image.shape[1], image.shape[0]


def _names(folder: Path) -> list[str]:
    for candidate in (folder / "data.yaml", folder.parent / "data.yaml"):
        if candidate.is_file():
            names = (yaml.safe_load(candidate.read_text()) or {}).get("names")
            if isinstance(names, dict):
                return [str(names[k]) for k in sorted(names)]
            if isinstance(names, list):
                return [str(n) for n in names]
    for listing in ("classes.txt", "obj.names"):
        for where in (folder, folder.parent):
            if (where / listing).is_file():
                return [line.strip() for line in (where / listing).read_text().splitlines() if line.strip()]
    raise ConfigError(f"{folder}: no class names (data.yaml with names, classes.txt or obj.names)")


@_READERS.register("yolo")
def _yolo(labels: Path, images: Path) -> list[Labelled]:
    names = _names(labels)
    folder = labels / "labels" if (labels / "labels").is_dir() else labels
    found = _Images(images)
    items = []
    for text in sorted(folder.rglob("*.txt")):
        if text.name in ("classes.txt", "obj.names"):
            continue
        image = next((p for n, p in found.by_name.items() if Path(n).stem == text.stem), None)
        if image is None:
            raise ConfigError(f"{text}: no image named {text.stem}.* under {images}")
        boxes = []
        for number, line in enumerate(text.read_text().splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            try:
                index, cx, cy, w, h = int(parts[0]), *map(float, parts[1:5])
                label = names[index]
            except (ValueError, IndexError) as exc:
                raise ConfigError(
                    f"{text}:{number}: expected 'class cx cy w h' with a known class ({exc})"
                ) from exc
            boxes.append(Box(label, (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)))
        width, height = _size(image)
        items.append(Labelled(image, width, height, boxes=boxes))
    return items


@_READERS.register("coco")
def _coco(labels: Path, images: Path) -> list[Labelled]:
    path = labels if labels.is_file() else next(iter(sorted(labels.rglob("*.json"))), None)
    if path is None:
        raise ConfigError(f"{labels}: no COCO JSON")
    try:
        document = json.loads(path.read_text())
        names = {c["id"]: c["name"] for c in document["categories"]}
        found = _Images(images)
        boxes: dict[int, list[Box]] = {}
        sizes = {i["id"]: (i["width"], i["height"]) for i in document["images"]}
        for a in document["annotations"]:
            x, y, w, h = a["bbox"]
            width, height = sizes[a["image_id"]]
            boxes.setdefault(a["image_id"], []).append(
                Box(names[a["category_id"]], (x / width, y / height, (x + w) / width, (y + h) / height))
            )
        return [
            Labelled(found.find(i["file_name"]), i["width"], i["height"], boxes=boxes.get(i["id"], []))
            for i in document["images"]
        ]
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
        raise ConfigError(f"{path}: not COCO instances ({type(exc).__name__}: {exc})") from exc


def _ls_image_name(url: str) -> str:
    parsed = urlparse(url)
    local = parse_qs(parsed.query).get("d")  # /data/local-files/?d=folder/name.jpg
    return unquote(local[0] if local else parsed.path).rsplit("/", 1)[-1]


@_READERS.register("label-studio")
def _label_studio(labels: Path, images: Path) -> list[Labelled]:
    try:
        tasks = json.loads(labels.read_text())
        found = _Images(images)
        items = []
        for task in tasks:
            done = [a for a in task.get("annotations", []) if not a.get("was_cancelled")]
            if not done:
                continue  # not labelled yet: nothing to learn from
            image = found.find(_ls_image_name(task["data"]["image"]))
            width, height = _size(image)
            tag, boxes = None, []
            for region in done[-1]["result"]:
                value = region["value"]
                if region["type"] == "choices":
                    tag = value["choices"][0]
                elif region["type"] == "rectanglelabels":
                    x, y, w, h = (value[k] / 100.0 for k in ("x", "y", "width", "height"))
                    boxes.append(Box(value["rectanglelabels"][0], (x, y, x + w, y + h)))
            items.append(Labelled(image, width, height, tag=tag, boxes=boxes))
        return items
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise ConfigError(f"{labels}: not a Label Studio JSON export ({type(exc).__name__}: {exc})") from exc


def write_dataset(items: Sequence[Labelled], out: Path, task: str, classes: Sequence[str]) -> dict[str, Any]:
    """Lay ``items`` out as training data: class folders (classify) or YOLO (detect); what was written."""
    named = {b.label for i in items for b in i.boxes} | {i.tag for i in items if i.tag is not None}
    unknown = sorted(named - set(classes))
    if unknown:
        raise ConfigError(f"labels {unknown} are not among the classes {list(classes)}")
    if task == "classify":
        kept = [item for item in items if item.tag is not None]
        for item in kept:
            (out / str(item.tag)).mkdir(parents=True, exist_ok=True)
            shutil.copy2(item.image, out / str(item.tag) / item.image.name)
        return {"images": len(kept), "unlabelled": len(items) - len(kept)}
    if task != "detect":
        raise ConfigError(f"task {task!r}: labels come back for classify or detect")
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "labels").mkdir(parents=True, exist_ok=True)
    index = {name: i for i, name in enumerate(classes)}
    for item in items:
        shutil.copy2(item.image, out / "images" / item.image.name)
        lines = [
            f"{index[b.label]} {(b.box[0] + b.box[2]) / 2:.6f} {(b.box[1] + b.box[3]) / 2:.6f} "
            f"{b.box[2] - b.box[0]:.6f} {b.box[3] - b.box[1]:.6f}"
            for b in item.boxes
        ]
        (out / "labels" / f"{item.image.stem}.txt").write_text("".join(line + "\n" for line in lines))
    (out / "data.yaml").write_text(
        yaml.safe_dump(
            {"path": ".", "train": "images", "val": "images", "names": list(classes)}, sort_keys=False
        )
    )
    return {"images": len(items), "boxes": sum(len(i.boxes) for i in items)}
