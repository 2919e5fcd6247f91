"""Classification readers: CSV (path,label) and seeded per-class fraction splits."""

import json
from pathlib import Path

import pytest
from train_tiny_data import write_class_folders

from train.__main__ import main as train_main
from train.config import ClassifyData
from train.data import DataError
from train.readers import fraction_split, read_csv, read_splits


@pytest.fixture(scope="module")
def discs(tmp_path_factory) -> Path:
    return write_class_folders(tmp_path_factory.mktemp("discs"), {"train": 20})


def _write_csv(root: Path, name: str = "all.csv") -> Path:
    rows = ["path,label"] + [
        f"{p.relative_to(root)},{p.parent.name}" for p in sorted((root / "train").rglob("*.png"))
    ]
    (root / name).write_text("\n".join(rows) + "\n")
    return root / name


def test_csv_rows_resolve_relative_to_the_csv(discs):
    classes, samples = read_csv(_write_csv(discs))
    assert classes == ["blue_disc", "green_disc", "red_disc"] and len(samples) == 60
    assert all(s.path.is_file() and s.path.parent.name == classes[s.label] for s in samples)


def test_csv_with_an_unknown_label_or_a_short_row_names_the_line(discs, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a.png,red_disc\nb.png\n")
    with pytest.raises(DataError, match="bad.csv:2"):
        read_csv(bad)
    bad.write_text("a.png,purple\n")
    with pytest.raises(DataError, match="purple"):
        read_csv(bad, ["red_disc"])


def test_fraction_split_is_seeded_disjoint_and_per_class(discs):
    _, samples = read_csv(_write_csv(discs))
    train, val, test = fraction_split(samples, 0.2, 0.2, seed=3)
    assert (len(train), len(val), len(test)) == (36, 12, 12)
    assert {s.label for s in val} == {s.label for s in test} == {0, 1, 2}
    assert not {s.path for s in val} & {s.path for s in test} and not {s.path for s in train} & {
        s.path for s in test
    }
    assert fraction_split(samples, 0.2, 0.2, seed=3) == (train, val, test)
    assert fraction_split(samples, 0.2, 0.2, seed=4)[1] != val


def test_folder_split_needs_val_and_test(discs):
    with pytest.raises(DataError, match="val"):
        read_splits(ClassifyData(root=discs), seed=0)
    assert len(read_splits(ClassifyData(root=discs, split="fraction"), seed=0).test) == 9


def test_fit_from_csv_with_a_fraction_split(discs, tmp_path):
    _write_csv(discs, "labels.csv")
    out = tmp_path / "run"
    args = [
        "fit",
        f"out={out}",
        f"data.root={discs}",
        "data.format=csv",
        "data.csv.train=labels.csv",
        "data.split=fraction",
        "data.image_size=[32,32]",
        "data.workers=0",
        "model.weights=none",
        "optim.epochs=1",
        "optim.warmup_epochs=0",
    ]
    assert train_main(args) == 0
    assert json.loads((out / "metrics.json").read_text())["test"]["samples"] == 9


def test_csv_format_without_the_file_is_a_clear_error(discs, tmp_path, capsys):
    assert (
        train_main(["fit", f"out={tmp_path}", f"data.root={discs}", "data.format=csv", "model.weights=none"])
        == 2
    )
    assert "data.csv" in capsys.readouterr().err
