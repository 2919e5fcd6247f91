"""The measurement code: known timings give known percentiles; reports render; rows meet the contract."""

import itertools
import json

import pytest

from benchmarks.__main__ import main as bench_main
from benchmarks.report import render_markdown
from benchmarks.stats import LatencyStats, time_calls

ROW_CONTRACT = {"format", "precision", "backend", "p50_ms", "p90_ms", "p99_ms", "throughput_fps", "size_bytes", "top1", "speedup_vs_pytorch"}


def test_fake_timed_workload_gives_known_percentiles():
    durations = itertools.cycle([0.001 * (i + 1) for i in range(100)])  # 1..100 ms, evenly spread
    now = [0.0]

    def clock() -> float:
        return now[0]

    def work() -> None:
        now[0] += next(durations)

    samples = time_calls(work, warmup=0, min_iterations=100, min_seconds=0.0, clock=clock)
    stats = LatencyStats.from_samples(samples)
    assert stats.samples == 100
    assert stats.p50_ms == pytest.approx(50.5)
    assert stats.p90_ms == pytest.approx(90.1)
    assert stats.p99_ms == pytest.approx(99.01)
    assert (stats.min_ms, stats.max_ms) == pytest.approx((1.0, 100.0))


def test_empty_samples_are_refused():
    with pytest.raises(ValueError):
        LatencyStats.from_samples([])


def test_bench_cli_writes_results_and_report(tiny_real_bundle, tiny_checkpoint, tmp_path):
    assert bench_main(["--bundle", str(tiny_real_bundle), "--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path), "--seconds", "0.05"]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert {"cpu", "cores", "isa", "libraries"} <= results["host"].keys()
    assert results["rows"][0]["backend"] == "pytorch"
    assert {r["format"] + "-" + r["precision"] for r in results["rows"]} >= {"onnx-fp32", "openvino-int8", "pytorch-fp32"}
    for row in results["rows"]:
        assert ROW_CONTRACT <= row.keys()
        assert row["p50_ms"] <= row["p90_ms"] <= row["p99_ms"]
    assert results["rows"][0]["speedup_vs_pytorch"] == pytest.approx(1.0)
    report = (tmp_path / "report.md").read_text()
    assert "synthetic" in report and "| onnx-int8 |" in report


def test_report_renders_from_a_stored_results_file(tiny_real_bundle, tiny_checkpoint, tmp_path):
    stored = {
        "created": "2026-01-01T00:00:00+00:00", "bundle": "b", "synthetic_data": False, "latency_mode": "batch 1",
        "host": {"cpu": "Test CPU", "cores": 2, "isa": ["avx2"], "libraries": {"openvino": "1"}},
        "rows": [{"name": "openvino-int8", "backend": "openvino", "runtime_precision": "int8+fp32", "p50_ms": 1.0,
                  "p90_ms": 1.5, "p99_ms": 2.0, "throughput_fps": 900.0, "size_bytes": 4_000_000, "top1": 0.95,
                  "speedup_vs_pytorch": 7.5, "status": "shipped"}],
        "recommended": "openvino-int8",
    }
    text = render_markdown(stored)
    assert "Test CPU" in text and "7.50x" in text and "**Ship:** `openvino-int8`" in text
    assert "synthetic" not in text
