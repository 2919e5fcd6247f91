"""The fine-tuning engine on tiny generated data: outputs, checkpoints, bad data and bad config."""

import json
import shutil

import pytest
import torch

from train.__main__ import main as train_main
from train.checkpoint import CHECKPOINT_VERSION, CheckpointError, read_checkpoint
from train.config import ClassifyConfig
from train.engine import fit


def test_fit_writes_checkpoint_log_metrics_and_config(tiny_checkpoint):
    out = tiny_checkpoint.parent
    meta = read_checkpoint(tiny_checkpoint).meta
    assert meta.version == CHECKPOINT_VERSION and meta.task == "classify"
    assert meta.classes == sorted(meta.classes) and len(meta.classes) == 5
    assert meta.interface.input.size == (64, 64) and meta.interface.postprocess.type == "scores"
    assert meta.model.name == "efficientnet_lite0" and 0.0 <= meta.metrics["top1"] <= 1.0
    assert meta.amp in ("off", "bfloat16")  # what ran is reported
    epochs = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [e["stage"] for e in epochs] == ["head", "full"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["metric"] == "top1" and 0.0 <= metrics["test"]["value"] <= 1.0
    assert set(metrics["test"]["per_class"]) == set(meta.classes)
    assert (out / "confusion_matrix.png").stat().st_size > 0
    assert "efficientnet_lite0" in (out / "config.yaml").read_text()


def test_checkpoint_holds_no_pickle_and_a_newer_version_is_refused(tiny_checkpoint, tmp_path):
    raw = torch.load(tiny_checkpoint, map_location="cpu", weights_only=True)  # plain tensors and primitives
    raw["meta"]["version"] = CHECKPOINT_VERSION + 1
    torch.save(raw, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="newer than this adit"):
        read_checkpoint(tmp_path / "future.pt")
    torch.save({"format": "adit-checkpoint-v1", "state_dict": {}}, tmp_path / "old.pt")
    with pytest.raises(CheckpointError, match="adit-checkpoint-v1"):
        read_checkpoint(tmp_path / "old.pt")


def test_corrupt_image_is_skipped_and_counted(tiny_data, tmp_path):
    data = tmp_path / "classify"
    shutil.copytree(tiny_data / "classify", data)
    (data / "train" / "empty_belt" / "zero.jpg").write_bytes(b"")
    (data / "train" / "normal_load" / "text.jpg").write_text("not an image")
    config = ClassifyConfig.model_validate(
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
    code = train_main(["fit", "optim.epochs=-1", f"out={tmp_path}"])
    assert code == 2
    assert "optim.epochs" in capsys.readouterr().err


def test_unknown_config_key_is_refused(capsys):
    assert train_main(["fit", "--validate", "optim.epoch=3"]) == 2
    assert "optim.epoch" in capsys.readouterr().err


def test_missing_data_folder_is_a_clear_error(tmp_path, capsys):
    assert train_main(["fit", f"data.root={tmp_path / 'nowhere'}", f"out={tmp_path}"]) == 2
    assert "nowhere" in capsys.readouterr().err


def test_a_run_whose_loss_diverges_exits_1_not_2(tmp_path, monkeypatch, capsys):
    from train_tiny_data import write_class_folders

    from train.tasks.classify import Classify

    data = write_class_folders(tmp_path / "discs", {"train": 4, "val": 1, "test": 1})
    monkeypatch.setattr(Classify, "loss_fn", lambda *args: lambda model, x, y: model(x).sum() * float("nan"))
    args = [
        f"out={tmp_path / 'run'}",
        f"data.root={data}",
        "data.image_size=[32,32]",
        "data.workers=0",
        "model.weights=none",
    ]
    assert train_main(["fit", *args, "optim.epochs=1", "optim.warmup_epochs=0", "optim.batch_size=4"]) == 1
    assert "the run failed" in capsys.readouterr().err
