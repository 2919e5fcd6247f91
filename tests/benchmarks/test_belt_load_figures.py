"""The belt-load figures script on the tiny generated video with the hand-set segmenter (belt_fixtures)."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.belt_load import main


def test_figures_compare_the_estimate_with_the_truth(
    belt_site: Path, dark_bundle: Path, tiny_data: Path, tmp_path: Path
) -> None:
    out = tmp_path / "bench-belt"
    code = main(
        [
            "--bundle",
            str(dark_bundle),
            "--video-dir",
            str(tiny_data / "video"),
            "--site",
            str(belt_site),
            "--out",
            str(out),
        ]
    )
    assert code == 0
    (result,) = json.loads((out / "results.json").read_text())["results"]
    assert result["artifact"] == "onnx-fp32" and result["frames"] == 120
    assert result["raw"]["mae"] < 0.08 and result["raw"]["mae"] <= result["raw"]["p95_abs"]
    assert result["overloads"] == {"truth": 1, "matched": 1, "missed": 0, "false": 0}
    energy = result["energy"]
    assert 0 < energy["saving"] < 1 and 0 < energy["saving_with_true_load"] < 1
    assert energy["mean_speed_mps"] < energy["max_mps"]
    assert (out / "belt_load.png").stat().st_size > 0
    assert "| onnx-fp32 |" in (out / "report.md").read_text()


def test_a_video_without_load_truth_is_refused(
    belt_site: Path, dark_bundle: Path, tmp_path: Path, capsys
) -> None:
    (tmp_path / "video").mkdir()
    code = main(
        [
            "--bundle",
            str(dark_bundle),
            "--video-dir",
            str(tmp_path / "video"),
            "--site",
            str(belt_site),
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert code == 2
    assert "belt_load" in capsys.readouterr().err
