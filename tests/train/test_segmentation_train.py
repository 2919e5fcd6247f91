"""Segmentation training: mask folders (split or flat), a tiny segmenter, and the real coal-lump photos."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from train.checkpoint import read_checkpoint
from train.models import ModelRequest, build_model, list_models
from train.segmentation.data import read_classes, read_mask, read_mask_splits
from train.segmentation.metrics import iou_report

# ../shared/data beside the repository, or wherever ADIT_SHARED_DATA points (e.g. from a git worktree)
SHARED_DATA = Path(
    os.environ.get("ADIT_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data")
)
COAL_LAB = SHARED_DATA / "coal_lump_lab"


def test_tiny_segmenter_trains_and_reports_miou(tiny_segmenter_checkpoint):
    meta = read_checkpoint(tiny_segmenter_checkpoint).meta
    assert meta.task == "segment" and meta.classes == ["background", "belt", "coal"]
    assert meta.interface.postprocess.type == "mask"
    test = json.loads((tiny_segmenter_checkpoint.parent / "metrics.json").read_text())["test"]
    assert test["metric"] == "miou" and 0.0 <= test["value"] <= 1.0 and "background" in test["per_class"]


def test_iou_report_on_a_known_confusion_matrix():
    report = iou_report(np.array([[8, 2, 0], [2, 8, 0], [0, 0, 0]]), ["a", "b", "never"], images=2)
    assert report.value == pytest.approx(8 / 12)
    assert report.per_class["never"] is None  # in neither truth nor prediction: not measured, not 0


@pytest.mark.parametrize("name", list_models("segment"))
def test_every_segmenter_gets_a_head_for_the_data_classes(name):
    model = build_model("segment", name, ModelRequest(4, "none")).module.eval()
    with torch.no_grad():
        assert model(torch.rand(1, 3, 64, 64))["out"].shape == (1, 4, 64, 64)


def test_flat_folders_split_by_seeded_fraction(tiny_data, tmp_path):
    flat = tmp_path / "flat"
    for kind in ("images", "masks"):
        (flat / kind).mkdir(parents=True)
        for path in sorted((tiny_data / "segment" / kind).glob("*/*")):
            (flat / kind / f"{path.parent.name}_{path.name}").write_bytes(path.read_bytes())
    first, again = read_mask_splits(flat, seed=1), read_mask_splits(flat, seed=1)
    assert {k: [s.path for s in v] for k, v in first.items()} == {
        k: [s.path for s in v] for k, v in again.items()
    }
    assert sum(len(v) for v in first.values()) == 12 and len(first["test"]) >= 1


@pytest.mark.skipif(not COAL_LAB.is_dir(), reason=f"real coal-lump photos not found at {COAL_LAB}")
def test_coal_lump_lab_palette_masks_keep_their_indices():
    splits = read_mask_splits(COAL_LAB, seed=0)
    assert sum(len(v) for v in splits.values()) == 34
    values = set(np.unique(read_mask(splits["train"][0].mask)))
    assert values <= {0, 1, 2} and 2 in values
    with pytest.raises(Exception, match="classes.json"):
        read_classes(COAL_LAB, None)
