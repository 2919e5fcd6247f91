"""The doctor in every layout users bring: Roboflow/Ultralytics YOLO with data.yaml, COCO, images + masks,
class folders with an empty class, and conflicting duplicates that --fix must not decide."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from train_tiny_data import disc_image, write_class_folders

from train.__main__ import main as train_main
from train.doctor import examine

PPE = Path(__file__).parents[3] / "shared" / "data" / "ppe_construction_rf100"


def _checks(report) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for finding in report.findings:
        found.setdefault(finding.check, set()).add(Path(finding.path).name if finding.path else "")
    return found


def _scene(rng: np.random.Generator, size: tuple[int, int] = (48, 64)) -> np.ndarray:
    return disc_image(rng, (40, 50, 210), max(size))[: size[0], : size[1]].copy()


def _roboflow(root: Path) -> Path:
    """``<split>/images`` + ``<split>/labels`` + data.yaml as Roboflow exports it (a foreign ``path``)."""
    rng = np.random.default_rng(3)
    for split in ("train", "valid"):
        (root / split / "images").mkdir(parents=True)
        (root / split / "labels").mkdir(parents=True)
        for n in range(3):
            cv2.imwrite(str(root / split / "images" / f"{split}{n}.jpg"), _scene(rng, (100, 200)))
            (root / split / "labels" / f"{split}{n}.txt").write_text("0 0.5 0.5 0.2 0.2\n1 0.3 0.3 0.1 0.1\n")
    (root / "train" / "labels" / "train1.txt").write_text(
        "0 0.5 0.5 0.2 0.2\n"
        "7 0.5 0.5 0.2 0.2\n"  # no class 7 in data.yaml
        "1 0.5 0.5 0.01 0.5\n"  # 2 px wide in a 200 px image: tiny
        "0 0.95 0.5 0.2 0.2\n"  # leaves the image
        "1 0.2 0.2 0.9 0.5 0.6 0.9\n"  # a polygon row (Ultralytics segment format): a fine box
    )
    (root / "valid" / "labels" / "ghost.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    spec = {
        "path": "C:\\Users\\someone\\Downloads\\ppe",
        "train": "../train/images",
        "val": "../valid/images",
        "test": "../test/images",
        "nc": 2,
        "names": ["hard-hat", "vest"],
    }
    (root / "data.yaml").write_text(yaml.safe_dump(spec))
    return root


def test_roboflow_layout_is_yolo_with_the_names_of_data_yaml_and_its_labels_opened(tmp_path, capsys):
    root = _roboflow(tmp_path / "export")
    report = examine(root)
    assert report.layout == "yolo" and report.classes == ["hard-hat", "vest"]
    assert report.images == {"train": 3, "val": 3}  # one class called "images" no more
    assert report.class_counts["train"] == {"hard-hat": 4, "vest": 4}  # class 7 is not counted
    found = _checks(report)
    assert found["label_unknown_class"] == {"train1.txt"} and found["box_tiny"] == {"train1.txt"}
    assert found["box_outside"] == {"train1.txt"} and found["orphan_label"] == {"ghost.txt"}
    assert found["missing_split"] == {"data.yaml"}  # test: listed, absent
    assert examine(root / "data.yaml").class_counts == report.class_counts  # the file itself works too
    assert train_main(["doctor", str(root / "data.yaml")]) == 1
    assert "classes: hard-hat, vest" in capsys.readouterr().out


def _coco(root: Path) -> Path:
    rng = np.random.default_rng(5)
    (root / "images" / "train").mkdir(parents=True)
    images = []
    for n in range(4):
        cv2.imwrite(str(root / "images" / "train" / f"{n}.jpg"), _scene(rng))
        images.append({"id": n, "file_name": f"{n}.jpg", "width": 64, "height": 48})
    images[3]["width"] = 640  # the file says 640, the image is 64
    images.append({"id": 9, "file_name": "gone.jpg", "width": 64, "height": 48})
    cv2.imwrite(str(root / "images" / "train" / "stray.jpg"), _scene(rng))
    annotations = [
        {"id": 1, "image_id": 0, "category_id": 1, "bbox": [10, 10, 20, 20]},
        {"id": 2, "image_id": 1, "category_id": 1, "bbox": [10, 10, -5, 20]},  # no area
        {"id": 3, "image_id": 2, "category_id": 2, "bbox": [50, 10, 30, 20]},  # leaves the 64 px image
        {"id": 4, "image_id": 2, "category_id": 5, "bbox": [1, 1, 10, 10]},  # unknown category
        {"id": 5, "image_id": 42, "category_id": 1, "bbox": [1, 1, 10, 10]},  # unknown image
    ]
    categories = [{"id": 1, "name": "person"}, {"id": 2, "name": "loader"}]
    (root / "annotations").mkdir()
    (root / "annotations" / "train.json").write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories})
    )
    return root


def test_coco_bad_boxes_missing_images_and_unknown_ids_are_reported_and_fix_moves_nothing(tmp_path, capsys):
    root = _coco(tmp_path / "coco")
    report = examine(root)
    assert report.layout == "coco" and report.classes == ["person", "loader"]
    found = _checks(report)
    assert found["missing_image"] == {"gone.jpg"} and found["size_mismatch"] == {"3.jpg"}
    assert found["box_empty"] == {"1.jpg"} and found["box_outside"] == {"2.jpg"}
    assert found["label_unknown_class"] == {"2.jpg"} and found["annotation_orphan"] == {"train.json"}
    assert found["unlisted_image"] == {"stray.jpg"} and "fix_reports_only" in found
    before = sorted(p.name for p in root.rglob("*"))
    assert train_main(["doctor", str(root), "--fix", "--quarantine", str(tmp_path / "q")]) == 1
    assert sorted(p.name for p in root.rglob("*")) == before and not (tmp_path / "q").exists()


def test_roboflow_coco_export_is_found_by_its_annotation_file_name(tmp_path):
    rng = np.random.default_rng(6)
    (tmp_path / "rf" / "train").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "rf" / "train" / "a.jpg"), _scene(rng))
    coco = {
        "images": [{"id": 0, "file_name": "a.jpg", "width": 64, "height": 48}],
        "annotations": [{"id": 0, "image_id": 0, "category_id": 0, "bbox": [5, 5, 10, 10]}],
        "categories": [{"id": 0, "name": "rock"}],
    }
    (tmp_path / "rf" / "train" / "_annotations.coco.json").write_text(json.dumps(coco))
    report = examine(tmp_path / "rf")
    assert report.layout == "coco" and report.class_counts == {"train": {"rock": 1}} and not report.errors


def _masks(root: Path) -> Path:
    rng = np.random.default_rng(8)
    for folder in ("images/train", "masks/train"):
        (root / folder).mkdir(parents=True)
    (root / "classes.json").write_text(json.dumps(["background", "belt", "coal"]))
    for n in range(4):
        cv2.imwrite(str(root / "images" / "train" / f"{n}.jpg"), _scene(rng))
        mask = np.zeros((48, 64), np.uint8)  # mostly background: black, as masks are
        mask[20:30, 10:40] = 2
        mask[0:2, :] = 255  # not labelled
        cv2.imwrite(str(root / "masks" / "train" / f"{n}.png"), mask)
    cv2.imwrite(str(root / "masks" / "train" / "1.png"), np.full((48, 64), 7, np.uint8))  # no class 7
    cv2.imwrite(str(root / "masks" / "train" / "2.png"), np.zeros((24, 32), np.uint8))  # half the size
    (root / "masks" / "train" / "3.png").unlink()
    return root


def test_images_with_masks_check_values_and_sizes_and_never_call_masks_dark_or_a_class(tmp_path):
    root = _masks(tmp_path / "seg")
    report = examine(root)
    assert report.layout == "masks" and report.classes == ["background", "belt", "coal"]
    found = _checks(report)
    assert found["mask_unknown_value"] == {"1.jpg"} and found["mask_size_mismatch"] == {"2.jpg"}
    assert found["missing_mask"] == {"3.jpg"}
    assert "too_dark" not in found and "too_blurred" not in found  # masks are labels, not pictures
    assert set(report.class_counts["train"]) == {"background", "belt", "coal"}  # no class "masks"
    assert report.class_counts["train"]["coal"] == 1 and report.class_counts["train"]["belt"] == 0
    assert train_main(["doctor", str(root), "--fix", "--quarantine", str(tmp_path / "q")]) == 0
    moved = sorted(str(p.relative_to(tmp_path / "q")) for p in (tmp_path / "q").rglob("*.*"))
    assert moved == [
        "images/train/1.jpg",
        "images/train/2.jpg",
        "images/train/3.jpg",
        "masks/train/1.png",
        "masks/train/2.png",
        "quarantine.jsonl",
    ]


def test_an_empty_class_folder_is_an_error(tmp_path):
    root = write_class_folders(tmp_path / "data", {"train": 3, "val": 2})
    (root / "train" / "conveyor_fire").mkdir()
    (root / "val" / "conveyor_fire").mkdir()
    report = examine(root)
    assert _checks(report)["empty_class_folder"] == {"conveyor_fire"}
    assert len([f for f in report.findings if f.check == "empty_class_folder"]) == 2
    assert report.class_counts["train"]["conveyor_fire"] == 0 and report.imbalance_ratio == 1.0


def test_fix_quarantines_every_copy_of_a_duplicate_whose_labels_disagree(tmp_path, capsys):
    root = write_class_folders(tmp_path / "data", {"train": 4, "val": 2})
    shutil.copy(root / "train" / "red_disc" / "train_001.png", root / "train" / "blue_disc" / "copy.png")
    shutil.copy(root / "train" / "green_disc" / "train_002.png", root / "val" / "red_disc" / "leak.png")
    report = examine(root)
    conflicts = {Path(f.path).name for f in report.findings if f.check == "conflicting_labels"}
    assert conflicts == {"train_001.png", "copy.png", "train_002.png", "leak.png"}
    assert all(f.quarantine for f in report.findings if f.check == "conflicting_labels")
    quarantine = tmp_path / "q"
    assert train_main(["doctor", str(root), "--fix", "--quarantine", str(quarantine)]) == 0
    out = capsys.readouterr().out
    assert "ALL quarantined (no label was picked)" in out
    for name in ("red_disc/train_001.png", "blue_disc/copy.png", "green_disc/train_002.png"):
        assert not (root / "train" / name).exists() and (quarantine / "train" / name).is_file()
    assert not (root / "val" / "red_disc" / "leak.png").exists()


@pytest.mark.real_data
def test_the_real_roboflow_ppe_export(tmp_path):
    if not (PPE / "data.yaml").is_file():
        pytest.skip(f"{PPE} not present (the shared data folder of this project)")
    report = examine(PPE)
    assert report.layout == "yolo" and report.classes == ["helmet", "no-helmet", "no-vest", "person", "vest"]
    assert report.images == {"train": 978, "val": 118, "test": 90}
    # SOURCE.txt's box counts
    assert report.class_counts["train"] == {
        "helmet": 2052,
        "no-helmet": 94,
        "no-vest": 720,
        "person": 2294,
        "vest": 1032,
    }
    assert report.class_counts["val"]["helmet"] == 217 and report.class_counts["test"]["no-helmet"] == 24
    found = _checks(report)
    assert "images" not in report.class_counts["train"] and "imbalance" in found  # no-helmet is rare
    # its near_duplicates csv: valid ppe_0567 is train ppe_0546 at distance 0, labelled differently
    conflict = {n for n in found.get("conflicting_labels", set())}
    assert {
        "ppe_0567_jpg.rf.ed3175bd7d4e676fa5bbc47de48e96ab.jpg",
        "ppe_0546_jpg.rf.244b77b04fca7ec4225af060ee5f4090.jpg",
    } <= conflict
    assert "near_duplicate_across_splits" in found
