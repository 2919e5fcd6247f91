"""Deterministic replay of a video with known truth, through the library call and the CLI."""

from __future__ import annotations

import json

import pytest

from edge_runtime.cli import main
from edge_runtime.config import load_site_config
from edge_runtime.events import Event, TruthEvent, compare_events, read_events, read_truth
from edge_runtime.replay import replay, replay_tolerance

EXPECTED = [
    ("start", "red", 12),
    ("end", "red", 29),
    ("start", "blue", 37),
    ("end", "blue", 54),
    ("start", "red", 72),
    ("end", "red", 84),
]


@pytest.mark.parametrize(
    ("artifact", "mode"),
    [("onnx-fp32", "latency"), ("openvino-fp32", "latency"), ("openvino-fp32", "throughput")],
)
def test_replay_finds_exactly_the_known_events(colour_site, colour_video, artifact, mode):
    """Throughput mode overlaps frames on OpenVINO's infer requests; the rules still see them in order."""
    config = load_site_config(colour_site, [f"model.artifact={artifact}", f"model.mode={mode}"])
    result = replay(config, colour_video.path)
    assert [(e.phase, e.label, e.frame) for e in result.events] == EXPECTED
    assert result.summary.frames == colour_video.frames and result.summary.artifact == artifact
    assert set(result.summary.timing_ms) == {
        "decode",
        "preprocess",
        "infer",
        "postprocess",
        "rules",
        "delivery",
        "frame_age",
        "capture_to_event",
    }
    match = compare_events(result.events, read_truth(colour_video.truth_path), replay_tolerance(config))
    assert match.ok and len(match.matched) == 3


def test_replay_cli_matches_the_truth_and_writes_events(colour_site, colour_video, tmp_path, capsys):
    out = tmp_path / "replayed.jsonl"
    out.write_text("an older replay's output\n")
    code = main(
        [
            "replay",
            str(colour_video.path),
            "--config",
            str(colour_site),
            "--expect",
            str(colour_video.truth_path),
            "--out",
            str(out),
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "3 matched, 0 missed, 0 false" in printed
    assert [(e.phase, e.label, e.frame) for e in read_events(out)] == EXPECTED
    assert load_site_config(out.with_suffix(".config.yaml")) == load_site_config(colour_site)


def test_a_truth_event_the_video_lacks_makes_replay_fail(colour_site, colour_video, tmp_path, capsys):
    truth = tmp_path / "more-truth.jsonl"
    extra = {"type": "blue_seen", "label": "blue", "start_frame": 60, "end_frame": 65}
    truth.write_text(colour_video.truth_path.read_text() + json.dumps(extra) + "\n")
    code = main(["replay", str(colour_video.path), "--config", str(colour_site), "--expect", str(truth)])
    printed = capsys.readouterr().out
    assert code == 1
    assert "missed" in printed and "3 matched, 1 missed, 0 false" in printed


def test_events_the_truth_lacks_make_replay_fail(colour_site, colour_video, tmp_path, capsys):
    truth = tmp_path / "red-only.jsonl"
    truth.write_text("".join(json.dumps(t) + "\n" for t in colour_video.truth if t["label"] == "red"))
    assert main(["replay", str(colour_video.path), "--config", str(colour_site), "--expect", str(truth)]) == 1
    assert "2 matched, 0 missed, 1 false" in capsys.readouterr().out


def _start(label: str, frame: int) -> Event:
    return Event(
        camera="c", type="t", label=label, score=0.9, frame=frame, phase="start", rule="r", pts_s=frame / 10
    )


def test_compare_events_tolerance_labels_and_duplicates():
    truth = [TruthEvent("t", "red", 10, 20), TruthEvent("t", "blue", 30, 40)]
    events = [_start("red", 24), _start("red", 25), _start("blue", 31), _start("red", 33)]
    match = compare_events(events, truth, tolerance=4)
    assert [(t.label, e.frame) for t, e in match.matched] == [("red", 24), ("blue", 31)]
    assert [e.frame for e in match.false] == [25, 33]  # beyond tolerance; wrong label
    assert match.missed == [] and not match.ok
    assert compare_events(events[:1] + events[2:3], truth, tolerance=4).ok


def test_compare_events_accepts_an_early_start_within_tolerance():
    truth = [TruthEvent("t", "red", 10, 20)]
    assert compare_events([_start("red", 6)], truth, tolerance=4).ok
    assert not compare_events([_start("red", 5)], truth, tolerance=4).ok


def test_unreadable_truth_is_an_error_naming_the_line(colour_site, colour_video, tmp_path, capsys):
    truth = tmp_path / "bad.jsonl"
    truth.write_text('{"type": "t", "label": "red", "start_frame": 1, "end_frame": 2}\n{"label": "red"}\n')
    assert main(["replay", str(colour_video.path), "--config", str(colour_site), "--expect", str(truth)]) == 2
    assert f"{truth}:2:" in capsys.readouterr().err
