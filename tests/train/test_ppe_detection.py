"""The PPE detector config on the real photos (../shared/data/ppe_construction_rf100): the config and
the data agree, and (slow) a few steps train, export is refused by the floor, and ships by override."""

import os
from pathlib import Path

import pytest
import yaml

from export.__main__ import main as export_main
from train.detection.config import DetectTrainConfig
from train.detection.data import read_detection_split
from train.engine import fit

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("ADIT_SHARED_DATA", REPO.parent / "shared" / "data"))
PPE = SHARED_DATA / "ppe_construction_rf100"
needs_ppe = pytest.mark.skipif(not PPE.is_dir(), reason=f"real PPE photos not found at {PPE}")


def _config(**update) -> DetectTrainConfig:
    raw = yaml.safe_load((REPO / "configs" / "train-detect-ppe.yaml").read_text())
    raw["data"]["root"] = str(PPE)
    return DetectTrainConfig.model_validate(raw).model_copy(update=update)


@needs_ppe
def test_ppe_config_reads_the_real_splits_with_the_lite_recipe():
    config = _config()
    assert config.model.name == "fcos_efficientnet_lite0_fpn" and config.model.weights == "DEFAULT"
    assert config.optim.freeze_bn and config.optim.freeze_stages == 2 and config.optim.ema > 0
    assert config.data.resize == "letterbox" and config.augment.resized_crop == 0
    classes, val = read_detection_split(PPE, "val", "yolo")
    assert classes == ["helmet", "no-helmet", "no-vest", "person", "vest"] and len(val) == 118
    assert {int(label) for sample in val for label in sample.labels} == set(range(5))


@pytest.mark.slow
@needs_ppe
def test_a_few_steps_on_ppe_train_then_the_floor_refuses_and_an_override_ships(tmp_path, capsys):
    out = tmp_path / "train"
    config = _config(out=out, max_steps_per_epoch=2)
    config = config.model_copy(update={"optim": config.optim.model_copy(update={"epochs": 1})})
    fit(config)
    checkpoint = out / "best.pt"
    build = [
        "build",
        "--checkpoint",
        str(checkpoint),
        "--formats",
        "onnx-fp32",
        "onnx-int8",
        "--no-fix-ladder",
    ]
    assert export_main([*build, "--out", str(tmp_path / "refused")]) == 1
    assert "NOT FIT TO DEPLOY" in capsys.readouterr().out
    bundle = tmp_path / "accepted"
    assert export_main([*build, "--out", str(bundle), "--accept-below-floor"]) == 0
    assert export_main(["verify", str(bundle)]) == 0
