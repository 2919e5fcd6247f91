"""The robustness benchmark and its corruptions, on the tiny colour bundle; the soak figures' maths."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from benchmarks.corruptions import SEVERITIES, corrupt, list_corruptions
from benchmarks.robustness import main as robustness_main
from benchmarks.robustness import run_robustness, table
from benchmarks.soak import _figures

BGR = {"red": (0, 0, 255), "green": (0, 255, 0), "blue": (255, 0, 0)}


def _scene() -> np.ndarray:
    return np.random.default_rng(1).integers(40, 215, (60, 80, 3), dtype=np.uint8)


@pytest.mark.parametrize("name", list_corruptions())
def test_each_corruption_is_deterministic_and_grows_with_severity(name):
    image = _scene()
    damage = []
    for severity in SEVERITIES:
        once, again = corrupt(image, name, severity, seed=7), corrupt(image, name, severity, seed=7)
        assert once.dtype == np.uint8 and once.shape == image.shape and np.array_equal(once, again)
        damage.append(np.abs(once.astype(int) - image).mean())
    assert 0 < damage[0] <= damage[1] <= damage[2]


def test_unknown_corruption_or_severity_lists_the_valid_ones():
    with pytest.raises(ValueError, match="darkness"):
        corrupt(_scene(), "smoke", 1, seed=0)
    with pytest.raises(ValueError, match=r"\(1, 2, 3\)"):
        corrupt(_scene(), "haze", 4, seed=0)


def test_robustness_table_over_the_tiny_bundle(tiny_bundle, tmp_path, capsys):
    split = tmp_path / "test"
    for name, colour in BGR.items():
        (split / name).mkdir(parents=True)
        for index in range(2):
            cv2.imwrite(str(split / name / f"{index}.png"), np.full((48, 64, 3), colour, np.uint8))
    result = run_robustness(tiny_bundle, split, None)
    assert result["artifacts"] == ["onnx-fp32", "openvino-fp32"] and result["images"] == 6
    assert result["top1"]["clean"] == {"onnx-fp32": 1.0, "openvino-fp32": 1.0}
    assert len(result["top1"]) == 1 + len(list_corruptions()) * len(SEVERITIES)
    assert table(result).splitlines()[0] == "| condition | onnx-fp32 | openvino-fp32 |"
    assert (
        robustness_main(
            [
                "--bundle",
                str(tiny_bundle),
                "--data",
                str(split),
                "--artifacts",
                "onnx-fp32",
                "--out",
                str(tmp_path / "r.json"),
            ]
        )
        == 0
    )
    assert "| darkness/3 |" in capsys.readouterr().out and (tmp_path / "r.json").is_file()


def test_soak_figures_fit_the_memory_slope_after_warm_up():
    samples = [
        {
            "t_s": t,
            "rss_mb": 100.0 + (0.5 * t / 60 if t >= 60 else 50),
            "outbox_depth": 1,
            "processed": {"cam1": 10 * t},
            "frame_age_p99_ms": 40.0,
        }
        for t in range(0, 600, 10)
    ]
    summary = {"timing_ms": {"frame_age": {"p99_ms": 41.0}}, "frames": 6000, "dropped": 3, "events": 12}
    figures = _figures(samples, summary, delivered=12, cameras=1, minutes=10)
    assert figures["rss_slope_mb_per_min"] == pytest.approx(0.5)  # the warm-up jump is not growth
    assert figures["fps_per_camera"] == {"cam1": pytest.approx(10.0)} and figures["events_lost"] == 0
