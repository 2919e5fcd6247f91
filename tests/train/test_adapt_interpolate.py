"""WiSE-FT after a retraining (``site.interpolate``): the saved weights averaged with the starting model's,
integer buffers as trained, recorded in the checkpoint and the bundle's provenance, refused when it cannot
mean anything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from edge_runtime.errors import ConfigError
from train.__main__ import main as train_main
from train.adapt import average_with_start, interpolate
from train.checkpoint import Interpolation, read_checkpoint, save_checkpoint
from train.config import ClassifyConfig


def _config(out: Path, start: Path, **site: object) -> ClassifyConfig:
    """A retraining's configuration, started from ``start`` (``init``: the checkpoint ``init_from`` finds)."""
    site_section = {"data": str(out), **site}
    return ClassifyConfig.model_validate({"out": str(out), "init": str(start), "site": site_section})


def _retrained(start: Path, out: Path) -> dict[str, torch.Tensor]:
    """``last.pt`` and ``best.pt`` as a retraining from ``start`` leaves them: every weight moved, the
    BatchNorm step counters advanced (real checkpoint files, the tiny classifier's)."""
    saved = read_checkpoint(start)
    generator = torch.Generator().manual_seed(0)
    moved = {
        key: value + torch.randn(value.shape, generator=generator) if value.is_floating_point() else value + 7
        for key, value in saved.state_dict.items()
    }
    out.mkdir(parents=True)
    save_checkpoint(out / "last.pt", saved.meta, moved, {"recipe": None})
    save_checkpoint(out / "best.pt", saved.meta, moved)
    return moved


def test_half_way_is_the_mean_of_deployed_and_retrained_and_integer_buffers_stay_retrained(
    tiny_checkpoint, tmp_path
):
    out = tmp_path / "run"
    retrained = _retrained(tiny_checkpoint, out)
    deployed = read_checkpoint(tiny_checkpoint).state_dict
    counters = [k for k, v in deployed.items() if not v.is_floating_point()]
    assert counters  # the tiny classifier has BatchNorm layers and their num_batches_tracked
    config = _config(out, tiny_checkpoint, interpolate=0.5)
    measured: list[dict[str, torch.Tensor]] = []

    def measure(state: dict[str, torch.Tensor]) -> dict[str, float]:
        measured.append(state)
        return {"top1": 0.25 * len(measured)}

    assert average_with_start(config, measure) == {"top1": 0.25} and len(measured) == 1  # measured once
    for name in ("last.pt", "best.pt"):
        saved = read_checkpoint(out / name)
        assert saved.meta.interpolated == Interpolation(start=str(tiny_checkpoint), weight=0.5)
        for key, value in saved.state_dict.items():
            if key in counters:
                assert torch.equal(value, retrained[key]) and not torch.equal(value, deployed[key])
            else:
                assert torch.allclose(value, (deployed[key] + retrained[key]) / 2, rtol=1e-5, atol=1e-6)
    assert read_checkpoint(out / "best.pt").meta.metrics == {"top1": 0.25}
    assert read_checkpoint(out / "last.pt").resume == {"recipe": None}  # and resume refuses it (engine)


def test_one_leaves_the_retrained_weights(tiny_checkpoint, tmp_path):
    out = tmp_path / "run"
    retrained = _retrained(tiny_checkpoint, out)
    before = (out / "best.pt").read_bytes()
    config = _config(out, tiny_checkpoint)
    assert config.site is not None and config.site.interpolate == 1.0  # the default: off

    def measure(state: dict[str, torch.Tensor]) -> dict[str, float]:
        raise AssertionError("nothing to measure: the weights stay as trained")

    assert average_with_start(config, measure) is None
    assert (out / "best.pt").read_bytes() == before
    deployed = read_checkpoint(tiny_checkpoint).state_dict
    same = interpolate(deployed, retrained, 1.0)
    assert all(torch.equal(same[key], retrained[key]) for key in retrained)


def test_weights_of_another_model_are_refused_by_name(tiny_checkpoint):
    deployed = read_checkpoint(tiny_checkpoint).state_dict
    other = {key: value for key, value in deployed.items() if not key.startswith("classifier")}
    with pytest.raises(ConfigError, match=r"site\.interpolate: .*names and shapes"):
        interpolate(deployed, other, 0.5)


@pytest.mark.parametrize("value", ["0", "-0.5", "1.5", "nan"])
def test_a_weight_outside_zero_to_one_is_a_config_error_naming_it(value, tmp_path, capsys):
    args = ["fit", "--validate", f"out={tmp_path}", f"site.data={tmp_path}", f"init_from={tmp_path}"]
    assert train_main([*args, f"site.interpolate={value}"]) == 2
    assert "site.interpolate:" in capsys.readouterr().err
    assert train_main([*args, "site.interpolate=0.5"]) == 0
    capsys.readouterr()
    assert train_main(["fit", "--validate", f"site.data={tmp_path}", "site.interpolate=0.5"]) == 2
    assert "site.interpolate below 1 averages with the starting model" in capsys.readouterr().err


def test_a_retraining_from_the_bundle_saves_and_exports_the_averaged_weights(
    tiny_real_bundle, tiny_checkpoint, tiny_data, tmp_path
):
    """Through ``fit``: the same retraining twice in one process, as trained (1) and averaged (0.5)."""
    from export.build import ExportRequest, export_bundle
    from train.engine import fit

    site = tiny_data / "classify" / "test"  # the class folders stand in for the site's labels
    deployed = read_checkpoint(tiny_checkpoint).state_dict  # the checkpoint the bundle came from
    runs = {}
    for weight in (1.0, 0.5):
        config = ClassifyConfig.model_validate(
            {
                "out": str(tmp_path / f"run-{weight}"),
                "init_from": str(tiny_real_bundle),
                "site": {"data": str(site), "epochs": 1, "interpolate": weight},
                "data": {"root": str(tiny_data / "classify"), "image_size": [64, 64], "workers": 0},
                "optim": {"batch_size": 8},
            }
        )
        metrics = fit(config)
        runs[weight] = read_checkpoint(config.out / "best.pt")
        assert metrics[f"val_{metrics['metric']}"] == runs[weight].meta.metrics["top1"]
    trained, averaged = runs[1.0], runs[0.5]
    assert trained.meta.interpolated is None and averaged.meta.interpolated is not None
    assert averaged.meta.interpolated.weight == 0.5
    for key, value in averaged.state_dict.items():
        if value.is_floating_point():
            assert torch.allclose(value, (deployed[key] + trained.state_dict[key]) / 2, rtol=1e-4, atol=1e-6)
        else:
            assert torch.equal(value, trained.state_dict[key])
    with pytest.raises(ConfigError, match=r"averaged with the run's start \(site\.interpolate\)"):
        fit(config.model_copy(update={"resume": True}))
    request = ExportRequest(config.out / "best.pt", tmp_path / "bundle", formats=("onnx-fp32",))
    provenance = json.loads((export_bundle(request).root / "manifest.json").read_text())["provenance"]
    assert provenance["interpolated"] == {"start": str(tiny_checkpoint), "weight": 0.5}
