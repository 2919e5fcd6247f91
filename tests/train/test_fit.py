"""The fine-tuning engine on tiny generated data: outputs, checkpoints, bad data and bad config."""

import json
import shutil

import torch

from train.__main__ import main as train_main
from train.config import TrainConfig
from train.engine import CHECKPOINT_FORMAT, fit


def test_fit_writes_checkpoint_log_metrics_and_config(tiny_checkpoint):
    out = tiny_checkpoint.parent
    checkpoint = torch.load(tiny_checkpoint, map_location="cpu", weights_only=True)
    assert checkpoint["format"] == CHECKPOINT_FORMAT
    assert checkpoint["classes"] == sorted(checkpoint["classes"]) and len(checkpoint["classes"]) == 5
    assert list(checkpoint["input"]["size"]) == [64, 64]
    epochs = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [e["stage"] for e in epochs] == ["head", "full"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= metrics["test"]["top1"] <= 1.0
    assert set(metrics["test"]["per_class"]) == set(checkpoint["classes"])
    assert (out / "confusion_matrix.png").stat().st_size > 0
    assert "efficientnet_lite0" in (out / "config.yaml").read_text()


def test_corrupt_image_is_skipped_and_counted(tiny_data, tmp_path):
    data = tmp_path / "classify"
    shutil.copytree(tiny_data / "classify", data)
    (data / "train" / "empty_belt" / "zero.jpg").write_bytes(b"")
    (data / "train" / "normal_load" / "text.jpg").write_text("not an image")
    config = TrainConfig.model_validate(
        {
            "out": str(tmp_path / "run"),
            "data": {"root": str(data), "image_size": [48, 48], "workers": 0},
            "model": {"weights": "none"},
            "optim": {"epochs": 1, "warmup_epochs": 0, "batch_size": 16},
        }
    )
    metrics = fit(config)
    assert metrics["skipped_images"] == 2


def test_bad_config_value_names_the_field(tmp_path, capsys):
    code = train_main(["fit", "optim.epochs=0", f"out={tmp_path}"])
    assert code == 2
    assert "optim.epochs" in capsys.readouterr().err


def test_unknown_config_key_is_refused(capsys):
    assert train_main(["fit", "--validate", "optim.epoch=3"]) == 2
    assert "optim.epoch" in capsys.readouterr().err


def test_missing_data_folder_is_a_clear_error(tmp_path, capsys):
    assert train_main(["fit", f"data.root={tmp_path / 'nowhere'}", f"out={tmp_path}"]) == 2
    assert "nowhere" in capsys.readouterr().err
