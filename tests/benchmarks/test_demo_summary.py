"""The demo's closing summary reads what the stages wrote: a real exported bundle, results, events."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from benchmarks.demo_summary import main

STORED = Path(__file__).parent / "stored_results.json"


def test_summary_of_a_run_folder(tiny_real_bundle, colour_video, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny_real_bundle, run / "bundle")
    (run / "bench").mkdir()
    shutil.copy(STORED, run / "bench" / "results.json")
    (run / "data" / "video").mkdir(parents=True)
    shutil.copy(colour_video.truth_path, run / "data" / "video" / "truth.jsonl")
    (run / "events").mkdir()
    (run / "events" / "events.jsonl").write_text("")
    assert (
        main(["--run", str(run), "--site", str(Path(__file__).parents[2] / "configs" / "site-demo.yaml")])
        == 0
    )
    text = capsys.readouterr().out
    samples = json.loads((run / "bundle" / "manifest.json").read_text())["provenance"]["evaluation_set"][
        "samples"
    ]
    assert f"held-out split ({samples} images)" in text and "onnx-int8" in text and "ran in" in text
    assert text.startswith((run / "summary.txt").read_text())
