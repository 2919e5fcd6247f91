"""benchmarks.dashboard_load runs the daemon with 0, 1 and 4 live viewers and reports what each round saw."""

from __future__ import annotations

import json

import yaml

from benchmarks.dashboard_load import ROUNDS, main


def test_every_round_runs_inference_and_viewers_receive_frames(tmp_path, tiny_bundle, colour_video):
    site = tmp_path / "site.yaml"
    site.write_text(
        yaml.safe_dump(
            {
                "model": {"bundle": str(tiny_bundle)},
                "cameras": [{"name": "cam1", "source": str(colour_video.path), "health": {"enabled": False}}],
                "sinks": {"jsonl": None},
                "outbox": {"path": str(tmp_path / "outbox.sqlite")},
            }
        )
    )
    out = tmp_path / "load.json"
    assert main(["--config", str(site), "--seconds", "1.5", "--out", str(out)]) == 0
    rounds = json.loads(out.read_text())["rounds"]
    assert [r["viewers"] for r in rounds] == list(ROUNDS)
    assert all(r["frames"] > 0 and r["inference_fps"] > 0 for r in rounds)
    assert all((r["viewer_fps"] > 0) == (r["viewers"] > 0) for r in rounds)
