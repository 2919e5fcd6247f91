"""The data doctor finds planted corrupt files, leaks and bad boxes, and --fix quarantines them."""

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from train_tiny_data import disc_image, write_class_folders

from train.__main__ import main as train_main
from train.doctor import examine


@pytest.fixture
def planted(tmp_path) -> Path:
    """Clean disc data plus: 3 corrupt files, an exact and a near copy of train images in test/val,
    an exact copy within train (sorting after its original, which is kept), a black frame and a blurred one."""
    root = write_class_folders(tmp_path / "data", {"train": 10, "val": 4, "test": 4})
    train_red = root / "train" / "red_disc"
    (train_red / "empty.jpg").write_bytes(b"")
    (train_red / "text.png").write_text("not an image")
    good = cv2.imencode(".jpg", cv2.imread(str(train_red / "train_000.png")))[1].tobytes()
    (root / "val" / "red_disc" / "cut.jpg").write_bytes(good[: len(good) // 2])
    shutil.copy(train_red / "train_001.png", root / "test" / "red_disc" / "leak.png")
    source = cv2.imread(str(root / "train" / "blue_disc" / "train_002.png"))
    near = cv2.resize(source, (36, 36), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(root / "val" / "blue_disc" / "near.jpg"), near, [cv2.IMWRITE_JPEG_QUALITY, 80])
    shutil.copy(train_red / "train_003.png", train_red / "z_copy.png")
    cv2.imwrite(str(root / "train" / "green_disc" / "night.png"), np.full((40, 40, 3), 4, np.uint8))
    blurred = cv2.GaussianBlur(disc_image(np.random.default_rng(7), (50, 190, 60), 120), (0, 0), 8)
    cv2.imwrite(str(root / "train" / "green_disc" / "smear.png"), blurred)
    return root


def _by_check(report) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for finding in report.findings:
        found.setdefault(finding.check, set()).add(Path(finding.path).name if finding.path else "")
    return found


def test_doctor_finds_every_planted_problem(planted):
    found = _by_check(examine(planted))
    assert found["unreadable"] == {"empty.jpg", "text.png"}
    assert found["truncated"] == {"cut.jpg"}
    assert found["exact_duplicate_across_splits"] == {"leak.png"}
    assert found["near_duplicate_across_splits"] == {"near.jpg"}
    assert found["exact_duplicate_within_split"] == {"z_copy.png"}
    assert found["too_dark"] == {"night.png"}
    assert found["too_blurred"] == {"smear.png"}


def test_doctor_exits_non_zero_then_fix_quarantines_and_the_data_is_clean(planted, tmp_path, capsys):
    quarantine = tmp_path / "held"
    assert train_main(["doctor", str(planted)]) == 1
    assert (
        train_main(
            [
                "doctor",
                str(planted),
                "--fix",
                "--quarantine",
                str(quarantine),
                "--json",
                str(tmp_path / "r.json"),
            ]
        )
        == 0
    )
    moved = {p.name for p in quarantine.rglob("*") if p.is_file()}
    assert moved == {
        "empty.jpg",
        "text.png",
        "cut.jpg",
        "leak.png",
        "near.jpg",
        "z_copy.png",
        "quarantine.jsonl",
    }
    assert (planted / "train" / "red_disc" / "train_001.png").is_file()  # the train copy of a leak stays
    reasons = [
        json.loads(line)["reason"] for line in (quarantine / "quarantine.jsonl").read_text().splitlines()
    ]
    assert len(reasons) == 6 and any(r.startswith("near_duplicate_across_splits") for r in reasons)
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["errors"] == 0 and report["class_counts"]["test"]["red_disc"] == 4
    assert "imbalance ratio" in capsys.readouterr().out


def test_doctor_flags_imbalance(tmp_path):
    root = write_class_folders(tmp_path / "data", {"train": 2})
    write_class_folders(tmp_path / "more", {"train": 22}, seed=3)
    for path in (tmp_path / "more" / "train" / "red_disc").iterdir():
        shutil.move(path, root / "train" / "red_disc" / f"more_{path.name}")
    report = examine(root)
    assert report.imbalance_ratio == 12.0 and "imbalance" in _by_check(report)


def _yolo(root: Path) -> Path:
    rng = np.random.default_rng(1)
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        for n in range(3):
            cv2.imwrite(str(root / "images" / split / f"{n}.jpg"), disc_image(rng, (40, 50, 210), 64))
            (root / "labels" / split / f"{n}.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (root / "labels" / "train" / "1.txt").write_text("0 0.9 0.5 0.4 0.2\n1 0.5 0.5 0.0 0.1\n")
    (root / "labels" / "val" / "2.txt").write_text("0 0.5 0.5\n")
    (root / "labels" / "val" / "ghost.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    return root


def test_doctor_checks_yolo_boxes(tmp_path):
    report = examine(_yolo(tmp_path / "yolo"))
    assert report.layout == "yolo"
    found = _by_check(report)
    assert found["box_outside"] == {"1.txt"} and found["box_empty"] == {"1.txt"}
    assert found["label_malformed"] == {"2.txt"} and found["orphan_label"] == {"ghost.txt"}
    assert report.class_counts["train"] == {"0": 3, "1": 1}
    assert train_main(["doctor", str(tmp_path / "yolo")]) == 1


def test_doctor_on_a_missing_folder_is_a_clear_error(tmp_path, capsys):
    assert train_main(["doctor", str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in capsys.readouterr().err
