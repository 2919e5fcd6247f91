"""Retraining from a deployed bundle: its checkpoint, the site's labels plus a replay of the old data, then
the export reports the old test split and the site frames side by side."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import pytest

from edge_runtime.bundle import load_bundle, write_manifest
from edge_runtime.errors import ConfigError
from train.adapt import initial_checkpoint, replay_sample, retraining, with_site_labels
from train.checkpoint import read_checkpoint
from train.config import ClassifyConfig
from train.task import get_task


def _site_labels(data: Path, out: Path) -> Path:
    """The test split as a darker, hazier site would show it, in the labelling import's layout."""
    for image in sorted((data / "test").rglob("*.png")) + sorted((data / "test").rglob("*.jpg")):
        frame = cv2.imread(str(image))
        shifted = cv2.addWeighted(frame, 0.45, frame * 0 + 90, 0.25, 0)
        (out / image.parent.name).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(out / image.parent.name / f"site-{image.stem}.png"), shifted)
    return out


def _config(tiny_data: Path, out: Path, **extra: object) -> ClassifyConfig:
    return ClassifyConfig.model_validate(
        {
            "out": str(out),
            "data": {"root": str(tiny_data / "classify"), "image_size": [64, 64], "workers": 0},
            "optim": {"epochs": 1, "warmup_epochs": 0, "batch_size": 8},
            **extra,
        }
    )


def test_replay_keeps_a_seeded_share_of_every_class():
    samples = [f"a{i}" for i in range(10)] + [f"b{i}" for i in range(3)]
    strata = [0] * 10 + [1] * 3
    kept = replay_sample(samples, strata, 0.3, seed=1)
    assert sum(s.startswith("a") for s in kept) == 3 and sum(s.startswith("b") for s in kept) == 1
    assert kept == replay_sample(samples, strata, 0.3, seed=1)
    assert replay_sample(samples, strata, 0.0, seed=1) == []


def test_the_retraining_recipe_replaces_optim_s_and_applies_once(tmp_path):
    site = {"data": str(tmp_path), "lr_scale": 0.25, "freeze_bn": True}
    config = _config(tmp_path, tmp_path / "run", site=site)
    ran = retraining(config)
    assert (ran.optim.epochs, ran.optim.warmup_epochs, ran.optim.freeze_bn) == (2, 0, True)
    assert config.optim.keep == "best" and ran.optim.keep == "last"  # the original split cannot judge a site
    assert ran.optim.lr == config.optim.lr * 0.25 and ran.site is not None and ran.site.lr_scale == 1.0
    assert retraining(ran) == ran  # the saved configuration runs the same again
    plain = _config(tmp_path, tmp_path / "run")
    assert retraining(plain) == plain


def test_init_from_a_bundle_needs_the_checkpoint_it_names(tiny_real_bundle, tiny_checkpoint, tmp_path):
    config = _config(tmp_path, tmp_path / "run", init_from=str(tiny_real_bundle))
    assert initial_checkpoint(config) == Path(load_bundle(tiny_real_bundle).manifest.provenance["checkpoint"])
    assert initial_checkpoint(config).samefile(tiny_checkpoint)
    moved = tmp_path / "moved"
    shutil.copytree(tiny_real_bundle, moved)
    manifest = load_bundle(moved).manifest
    provenance = {**manifest.provenance, "checkpoint": str(tmp_path / "gone" / "best.pt")}
    write_manifest(moved, manifest.model_copy(update={"provenance": provenance}))
    with pytest.raises(ConfigError, match=r"gone/best\.pt.*not here"):
        initial_checkpoint(_config(tmp_path, tmp_path / "run", init_from=str(moved)))
    with pytest.raises(ValueError, match="init and init_from"):
        _config(tmp_path, tmp_path / "run", init_from=str(moved), init=str(tiny_checkpoint))


def test_retrain_from_the_bundle_on_site_labels_then_export_reports_both(
    tiny_real_bundle, tiny_data, tmp_path
):
    from export.build import ExportRequest, export_bundle
    from train.engine import fit

    site = _site_labels(tiny_data / "classify", tmp_path / "site")
    config = _config(
        tiny_data,
        tmp_path / "run",
        init_from=str(tiny_real_bundle),
        site={"data": str(site), "replay": 0.5, "epochs": 1},
    )
    task = get_task("classify")
    original = task.read_data(config)
    data = with_site_labels(task, config, original)
    new = task.read_labelled(site, original.classes)
    replayed = replay_sample(original.train, [s.label for s in original.train], 0.5, seed=0)
    assert len(data.train) == len(new) + len(replayed) and set(replayed) <= set(data.train)
    assert data.val == original.val and data.test == original.test
    assert data.fingerprint != original.fingerprint

    fit(config)
    checkpoint = read_checkpoint(tmp_path / "run" / "best.pt")
    assert checkpoint.meta.config["init_from"] == str(tiny_real_bundle)
    site_recipe = {"data": str(site), "replay": 0.5, "epochs": 1, "lr_scale": 1.0, "freeze_bn": False}
    site_recipe["interpolate"] = 1.0  # the default: the weights as trained
    assert checkpoint.meta.config["site"] == site_recipe  # the learning rate as it ran: scaled once
    assert checkpoint.meta.interpolated is None
    assert checkpoint.meta.config["optim"]["lr"] == config.optim.lr * config.site.lr_scale
    assert checkpoint.meta.config["optim"]["keep"] == "last"

    out = tmp_path / "bundle"
    export_bundle(
        ExportRequest(
            checkpoint=tmp_path / "run" / "best.pt",
            out=out,
            formats=("onnx-fp32",),
            calibration_size=8,
            site_data=site,
        )
    )
    evaluation = json.loads((out / "manifest.json").read_text())["provenance"]["site_evaluation"]
    assert evaluation["samples"] == len(new) and evaluation["metric"] == "top1"
    figures = evaluation["artifacts"]["onnx-fp32"]
    assert 0.0 <= figures["site"] <= 1.0 and 0.0 <= figures["test"] <= 1.0
