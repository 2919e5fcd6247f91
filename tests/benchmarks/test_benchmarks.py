"""The measurement code: known timings give known percentiles; reports render; rows meet the contract."""

import itertools
import json
from pathlib import Path

import pytest

from benchmarks.__main__ import main as bench_main
from edge_runtime.measure.timing import LatencyStats, time_calls

ROW_CONTRACT = {
    "format",
    "precision",
    "backend",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "throughput_fps",
    "size_bytes",
    "top1",
    "speedup_vs_pytorch",
}


def test_fake_timed_workload_gives_known_percentiles():
    durations = itertools.cycle([0.001 * (i + 1) for i in range(100)])  # 1..100 ms, evenly spread
    now = [0.0]

    def clock() -> float:
        return now[0]

    def work() -> None:
        now[0] += next(durations)

    samples = time_calls(work, warmup=0, min_iterations=100, min_seconds=0.0, clock=clock)
    stats = LatencyStats.from_samples(samples)
    assert stats.count == 100
    assert stats.p50_ms == pytest.approx(50.5)
    assert stats.p90_ms == pytest.approx(90.1)
    assert stats.p99_ms == pytest.approx(99.01)
    assert (stats.min_ms, stats.max_ms) == pytest.approx((1.0, 100.0))


def test_empty_samples_are_refused():
    with pytest.raises(ValueError):
        LatencyStats.from_samples([])


DEMO_SITE = Path(__file__).parents[2] / "configs" / "site-demo.yaml"
PIPELINE_CONTRACT = {"e2e_fps", "model_only_fps", "capture_to_event_ms", "cameras", "cpu_bound_fraction"}


def test_bench_cli_writes_results_and_report(tiny_real_bundle, tiny_checkpoint, tiny_data, tmp_path):
    args = [
        "--bundle",
        str(tiny_real_bundle),
        "--checkpoint",
        str(tiny_checkpoint),
        "--out",
        str(tmp_path),
        "--seconds",
        "0.05",
        "--repeats",
        "2",
        "--batch",
        "2",
        "--sweep-threads",
        "1",
        "--sweep-batch",
        "2",
        "--video",
        str(tiny_data / "video" / "belt.avi"),
        "--site",
        str(DEMO_SITE),
        "--cameras",
        "1,2",
        "--camera-seconds",
        "0.5",
    ]
    assert bench_main(args) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert {"cpu", "cores", "isa", "libraries"} <= results["host"].keys()
    assert results["rows"][0]["backend"] == "pytorch"
    assert {r["format"] + "-" + r["precision"] for r in results["rows"]} >= {
        "onnx-fp32",
        "openvino-int8",
        "pytorch-fp32",
    }
    for row in results["rows"]:
        assert ROW_CONTRACT <= row.keys()
        assert row["min_ms"] <= row["p90_ms"] <= row["p99_ms"] <= row["max_ms"]
        assert row["repeats"] == 2 and row["p50_min_ms"] <= row["p50_ms"] <= row["p50_max_ms"]
        assert row["throughput_fps"] > 0 and row["throughput_setting"]
    assert results["rows"][0]["speedup_vs_pytorch"] == pytest.approx(1.0)
    default = next(r for r in results["rows"] if "CPU default" in r["name"])
    assert default["name"].endswith(f"(CPU default: {default['runtime_precision']})")
    ir = [r for r in results["rows"] if r["name"].startswith("openvino-fp32")]  # as gated, and the other
    assert sorted(r["status"] for r in ir) == ["comparison", "shipped"]
    assert results["recommended"] and "comparison" not in results["recommended"]
    assert [p["threads"] for p in results["sweep"] if p["mode"] == "latency"] == [1]
    assert [p["batch"] for p in results["sweep"] if p["mode"] == "batch"] == [2]
    assert results["tuned_int8"]["p50_ms"] > 0 and results["tuned_int8"]["adit_p50_ms"] > 0
    pipeline = results["pipeline"]
    assert PIPELINE_CONTRACT <= pipeline.keys() and {"p50", "p99"} <= pipeline["capture_to_event_ms"].keys()
    assert pipeline["artifact"] == next(
        r["format"] + "-" + r["precision"] for r in results["rows"] if r["name"] == results["recommended"]
    )
    assert [c["count"] for c in pipeline["cameras"]] == [1, 2]
    for camera in pipeline["cameras"]:
        assert {"count", "fps_per_camera", "frame_age_p99_ms", "dropped"} <= camera.keys() and camera[
            "fps_per_camera"
        ] > 0
    assert {"decode", "preprocess", "infer", "postprocess", "rules"} <= pipeline["stages_ms"].keys()
    assert pipeline["frames"] == 120  # the tiny video: 8 s at 15 fps, every frame replayed
    assert set(pipeline["cpu_ms_per_frame"]) == {"decode", "preprocess", "infer"}
    assert pipeline["cpu_bound_fps"] > 0
    fraction = pipeline["e2e_fps"] / pipeline["cpu_bound_fps"]
    assert pipeline["cpu_bound_fraction"] == pytest.approx(fraction, rel=0.01)
    by_thread = pipeline["replay_cpu"]["ms_per_frame"]
    assert by_thread["reading"] > 0 and "inference_loop" in by_thread  # decoding 120 frames: ticks enough
    assert pipeline["replay_cpu"]["total_ms_per_frame"] == pytest.approx(sum(by_thread.values()), abs=0.01)
    goals = {g["goal"]: g for g in results["goals"]}
    assert len(goals) == 7 and goals["pipeline end-to-end vs its CPU bound"]["measured"] is not None
    camera_goals = [g for name, g in goals.items() if "H.264" in name or "capture-to-event" in name]
    assert [g["passed"] for g in camera_goals] == [None, None]  # measured by `benchmarks capacity`
    report = (tmp_path / "report.md").read_text()
    assert "synthetic" in report and "| onnx-int8 |" in report and "## Cameras on this box" in report
    assert "The replay's own CPU per frame: reading" in report
    assert (tmp_path / "report.html").read_text().count("data:image/png;base64,") == 3
