"""``adit``: verbs dispatch to the stages, key=value becomes their options, bad input is exit 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from adit.cli import main
from adit.data import data_overrides
from adit.verbs import VERBS
from edge_runtime.bundle import SELECTION_NAME, Manifest, load_bundle, write_manifest
from edge_runtime.errors import ConfigError

EVERY_VERB = (
    "train",
    "val",
    "predict",
    "export",
    "verify",
    "bench",
    "select",
    "run",
    "replay",
    "doctor",
    "synth",
)


def test_help_lists_every_verb(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    for verb in (*EVERY_VERB, "fleet status", "fleet rollout"):
        assert f"\n  {verb} " in text


def test_fleet_alone_lists_the_fleet_verbs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fleet", "--help"]) == 0
    assert "  fleet rollout " in capsys.readouterr().out
    assert main(["fleet"]) == 2
    assert "  fleet status " in capsys.readouterr().err


@pytest.mark.parametrize("verb", [v for v in VERBS if v != "bench-workstation"])
def test_every_verb_lists_its_keys(verb: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = verb.split("-", 1) if verb.startswith("fleet-") else [verb]
    assert main([*argv, "--help"]) == 0
    assert "keys:" in capsys.readouterr().out


def test_train_help_lists_the_configuration(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--help"]) == 0
    text = capsys.readouterr().out
    assert "optim.epochs" in text and "data.root" in text and "imgsz=N" in text
    assert main(["train", "task=detect", "--help"]) == 0
    assert "data.format" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["fly"], "unknown verb 'fly'"),
        (["export", "colour=red"], "unknown key 'colour'"),
        (["export", "checkpoint"], "not key=value"),
        (["select", "bundle=x", "no_record=perhaps"], "not true or false"),
        (["train", "data=/no/such/folder"], "data=/no/such/folder: no such file"),
        (["verify", "bundle=/no/such/bundle"], "/no/such/bundle"),
    ],
)
def test_bad_input_is_exit_2_naming_it(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert says in capsys.readouterr().err


def test_a_bad_value_is_refused_naming_the_key_not_the_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "bundle=x", "seconds=-1"]) == 2
    err = capsys.readouterr().err
    assert "seconds: '-1' must be a positive number" in err
    assert "--seconds" not in err


def test_an_unknown_training_key_is_refused_by_the_configuration(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "validate=true", "optim.epochz=3"]) == 2
    assert "epochz" in capsys.readouterr().err


def test_train_overrides_reach_the_configuration(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folders = tmp_path / "classes"
    (folders / "train" / "coal").mkdir(parents=True)
    argv = [
        "train",
        "validate=true",
        f"data={folders}",
        "epochs=3",
        "imgsz=96",
        "model=resnet18",
        f"out={tmp_path}",
    ]
    assert main(argv) == 0
    config = json.loads(capsys.readouterr().out)
    assert config["task"] == "classify" and config["data"]["root"] == str(folders)
    assert config["optim"]["epochs"] == 3 and config["data"]["image_size"] == [96, 96]
    assert config["model"]["name"] == "resnet18" and config["out"] == str(tmp_path)


def test_doctor_reads_the_input_size_as_train_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["doctor", "--help"]) == 0
    assert "imgsz= -> image_size=" in capsys.readouterr().out
    yolo = tmp_path / "yolo"
    (yolo / "images").mkdir(parents=True)
    (yolo / "labels").mkdir()
    photo = np.random.default_rng(0).integers(40, 220, (48, 64, 3), np.uint8)
    cv2.imwrite(str(yolo / "images" / "a.jpg"), photo)
    (yolo / "labels" / "a.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    report = tmp_path / "report.json"
    assert main(["doctor", f"data={yolo}", "imgsz=416", f"json={report}"]) == 0
    assert json.loads(report.read_text())["object_sizes"]["image_size"] == [416, 416]
    assert main(["doctor", f"data={yolo}", "image_size=[240,320]", "resize=stretch", f"json={report}"]) == 0
    sizes = json.loads(report.read_text())["object_sizes"]
    assert sizes["image_size"] == [240, 320] and sizes["resize"] == "stretch"


def test_data_is_read_as_its_layout(tmp_path: Path) -> None:
    yolo = tmp_path / "yolo"
    (yolo / "images").mkdir(parents=True)
    (yolo / "data.yaml").write_text("names: [a]\ntrain: images\n")
    assert data_overrides(str(yolo / "data.yaml")) == ("detect", [f"data.root={yolo}", "data.format=yolo"])
    assert data_overrides(str(yolo)) == ("detect", [f"data.root={yolo}", "data.format=yolo"])
    coco = tmp_path / "coco"
    (coco / "annotations").mkdir(parents=True)
    (coco / "annotations" / "train.json").write_text("{}")
    expected = ("detect", [f"data.root={coco}", "data.format=coco"])
    assert data_overrides(str(coco / "annotations" / "train.json")) == expected
    assert data_overrides(str(coco)) == expected
    voc = tmp_path / "voc"
    (voc / "Annotations").mkdir(parents=True)
    (voc / "JPEGImages").mkdir()
    assert data_overrides(str(voc)) == ("detect", [f"data.root={voc}", "data.format=voc"])
    masks = tmp_path / "masks"
    (masks / "images").mkdir(parents=True)
    (masks / "masks").mkdir()
    assert data_overrides(str(masks)) == ("segment", [f"data.root={masks}"])
    classes = tmp_path / "classes"
    (classes / "train" / "coal").mkdir(parents=True)
    assert data_overrides(str(classes)) == ("classify", [f"data.root={classes}"])
    for bad in (tmp_path / "other.yaml", tmp_path / "notes.txt", tmp_path / "empty"):
        bad.mkdir() if bad.name == "empty" else bad.write_text("x")
        with pytest.raises(ConfigError, match=bad.name):
            data_overrides(str(bad))


def _colour_folders(root: Path, size: int = 32) -> Path:
    colours = {"red": (0, 0, 255), "green": (0, 255, 0), "blue": (255, 0, 0)}  # BGR
    for name, bgr in colours.items():
        (root / name).mkdir(parents=True)
        for i in range(2):
            cv2.imwrite(str(root / name / f"{i}.png"), np.full((size, size, 3), bgr, np.uint8))
    return root


def test_verify_bench_select_on_a_bundle(
    tiny_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, bundle)
    assert main(["verify", f"bundle={bundle}"]) == 0
    assert "the first shipped artifact" in capsys.readouterr().out  # this bundle records no recommendation
    labelled = _colour_folders(tmp_path / "labelled")
    out = tmp_path / "edge-results.json"
    assert main(["bench", f"bundle={bundle}", "seconds=0.05", f"labelled={labelled}", f"out={out}"]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert {r["artifact"] for r in rows} == {"onnx-fp32", "openvino-fp32"}
    for row in rows:
        assert row["p50_ms"] <= row["p90_ms"] <= row["p99_ms"] and row["throughput_fps"] > 0
        assert row["accuracy"] == 1.0 and row["samples"] == 6  # the colour classifier tells them apart
    assert main(["select", f"bundle={bundle}", f"results={out}"]) == 0
    chosen = min(rows, key=lambda r: r["p50_ms"])["artifact"]
    assert f"model.artifact={chosen}" in capsys.readouterr().out
    loaded = load_bundle(bundle)
    assert loaded.artifact().key == chosen and "selected on this device" in loaded.recommended()[1]
    # a selection made for another manifest is ignored: the bundle was replaced
    manifest = json.loads((bundle / "manifest.json").read_text())
    write_manifest(bundle, Manifest.model_validate(manifest | {"version": "9.9.9"}))
    assert load_bundle(bundle).selection is None and (bundle / SELECTION_NAME).is_file()


def test_export_s_recommendation_is_the_default_and_must_be_shipped(tiny_bundle: Path) -> None:
    manifest = load_bundle(tiny_bundle).manifest.model_dump(by_alias=True)
    recommended = {
        "artifact": "openvino-fp32",
        "p50_ms": {"openvino-fp32": 1.0, "onnx-fp32": 2.0},
        "host": "cpu",
    }
    with_choice = Manifest.model_validate(manifest | {"recommended": recommended})
    from edge_runtime.bundle import Bundle

    assert Bundle(tiny_bundle, with_choice).artifact().key == "openvino-fp32"
    rejected = [a | {"status": "rejected"} if a["format"] == "openvino" else a for a in manifest["artifacts"]]
    with pytest.raises(ValueError, match="not a shipped artifact"):
        Manifest.model_validate(manifest | {"recommended": recommended, "artifacts": rejected})


def test_predict_writes_annotated_images_and_json(tiny_bundle: Path, tmp_path: Path) -> None:
    source = _colour_folders(tmp_path / "labelled") / "blue"
    assert main(["predict", f"model={tiny_bundle}", f"source={source}", f"out={tmp_path / 'out'}"]) == 0
    lines = [json.loads(line) for line in (tmp_path / "out" / "predictions.jsonl").read_text().splitlines()]
    assert [line["label"] for line in lines] == ["blue", "blue"]
    assert cv2.imread(str(tmp_path / "out" / "0.jpg")) is not None
