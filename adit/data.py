"""``data=PATH``: a YOLO ``data.yaml`` file, a COCO json, a VOC folder, images + masks, or class folders,
turned into the training configuration's own ``data.*`` overrides and the task that reads them."""

from __future__ import annotations

from pathlib import Path

from edge_runtime.errors import ConfigError

# what the layouts look like, most specific first (the same order as `train doctor`'s layout detection)
YOLO_FILE = "data.yaml"
SPLITS = ("train", "val", "test")


def data_overrides(text: str) -> tuple[str, list[str]]:
    """(task, overrides) for the data at ``text``; ConfigError naming it when it is none of the layouts."""
    path = Path(text)
    if not path.exists():
        raise ConfigError(f"data={text}: no such file or folder")
    if path.is_file():
        return _file(path)
    if (path / YOLO_FILE).is_file():
        return "detect", [f"data.root={path}", "data.format=yolo"]
    if (path / "Annotations").is_dir() and (path / "JPEGImages").is_dir():
        return "detect", [f"data.root={path}", "data.format=voc"]
    if any((path / "annotations").glob("*.json")) or any((path / f"{s}.json").is_file() for s in SPLITS):
        return "detect", [f"data.root={path}", "data.format=coco"]
    if (path / "images").is_dir() and (path / "masks").is_dir():
        return "segment", [f"data.root={path}"]
    if any(child.is_dir() for child in path.iterdir()):
        return "classify", [f"data.root={path}"]
    raise ConfigError(
        f"data={text}: not a data set (expected a YOLO data.yaml, a COCO json, a VOC folder, "
        "images/ + masks/, or class folders <split>/<class>/)"
    )


def _file(path: Path) -> tuple[str, list[str]]:
    if path.suffix in (".yaml", ".yml"):
        if path.name != YOLO_FILE:
            raise ConfigError(
                f"data={path}: the YOLO reader opens {YOLO_FILE} beside images/ and labels/; "
                f"rename it or pass its folder"
            )
        return "detect", [f"data.root={path.parent}", "data.format=yolo"]
    if path.suffix == ".json":
        root = path.parent.parent if path.parent.name == "annotations" else path.parent
        return "detect", [f"data.root={root}", "data.format=coco"]
    raise ConfigError(f"data={path}: a file must be a YOLO {YOLO_FILE} or a COCO .json")
