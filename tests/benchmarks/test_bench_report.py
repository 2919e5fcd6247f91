"""report.md and report.html render from a stored results file alone; the goals are ratios of it."""

import json
from pathlib import Path

import pytest

from benchmarks.goals import evaluate_goals, int8_drops
from benchmarks.report import render_markdown, write_report

STORED = Path(__file__).with_name("stored_results.json")


@pytest.fixture
def stored() -> dict:
    results = json.loads(STORED.read_text())
    results["goals"] = evaluate_goals(results)
    return results


def test_markdown_renders_every_section(stored):
    text = render_markdown(stored)
    assert "Test CPU" in text and "**Ship:** `openvino-int8`" in text and "7.50x" in text
    assert "synthetic" not in text
    assert "| onnx-int8 | onnxruntime |" in text and "2 streams, 2 async requests" in text
    assert "0.95–1.05 (3x)" in text  # the spread of the repeated medians
    assert "**300.0 fps end to end**" in text and "kept up with 2 of the 4 camera(s)" in text
    assert "## Training" in text and "| seed | 55.0 |" in text


def test_goals_are_ratios_of_one_run(stored):
    goals = {g["goal"]: g for g in stored["goals"]}
    shipped_vs_pytorch = goals["shipped latency vs PyTorch eager FP32"]
    assert (
        shipped_vs_pytorch["measured"] == pytest.approx(1.0 / 7.5, abs=1e-3) and shipped_vs_pytorch["passed"]
    )
    tuned = goals["edge_runtime OpenVINO INT8 latency vs best hand-tuned"]
    assert tuned["measured"] == pytest.approx(1.0 / 0.98, abs=1e-3) and tuned["passed"]
    assert goals["pipeline end-to-end vs model-only fps"]["passed"] is False
    int8 = goals["largest INT8 top-1 drop vs FP32 (pp)"]
    assert int8["measured"] == pytest.approx(1.0) and int8["passed"] is False  # budget 0.5 pp


def test_int8_drop_is_shown_per_class(stored):
    drops = {d["artifact"]: d for d in int8_drops(stored["rows"])}
    assert drops["openvino-int8"]["reference"] == "openvino-fp32 (forced f32)"
    assert drops["openvino-int8"]["recall_drop_pp"] == pytest.approx({"belt": 2.0, "person": 0.0})
    assert "onnx-int8" not in drops  # no ONNX FP32 row to judge it against; never against PyTorch
    text = render_markdown(stored)
    assert "| openvino-int8 | openvino-fp32 (forced f32) | 1.00 | 2.00 | 0.00 |" in text


def test_html_is_self_contained_with_plots(stored, tmp_path):
    write_report(stored, tmp_path)
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 3  # latency bars, accuracy vs latency, camera scaling
    assert 'src="http' not in page and "<script" not in page
    assert "<strong>Ship:</strong> <code>openvino-int8</code>" in page
    assert json.loads((tmp_path / "results.json").read_text())["recommended"] == "openvino-int8"


def test_headings_in_chinese(stored):
    text = render_markdown(stored, lang="zh-CN")
    assert "## 结论" in text and "## 流水线" in text and "openvino-int8" in text
    with pytest.raises(ValueError, match="zh-CN"):
        render_markdown(stored, lang="xx")


def test_older_results_without_the_new_columns_still_render(stored):
    for row in stored["rows"]:
        for key in (
            "throughput_setting",
            "peak_rss_mb",
            "repeats",
            "p50_min_ms",
            "p50_max_ms",
            "recall",
            "note",
        ):
            row.pop(key)
    for key in ("pipeline", "sweep", "training", "tuned_int8"):
        stored.pop(key)
    text = render_markdown(stored)
    assert "| openvino-int8 |" in text and "## Pipeline" not in text


def test_latency_plots_use_linear_axes_and_labels_that_cannot_collide(stored, monkeypatch):
    from benchmarks import plots

    figures = []
    monkeypatch.setattr(plots, "_png", lambda figure: figures.append(figure) or b"")
    plots.latency_bars(stored["rows"])
    plots.accuracy_vs_latency(stored["rows"])
    bars, scatter = (figure.axes[0] for figure in figures)
    assert bars.get_xscale() == "linear" and scatter.get_xscale() == "linear"
    assert [t.get_text() for t in bars.texts] == [f"{r['p50_ms']:.2f}" for r in stored["rows"]]  # values
    assert len(scatter.texts) == 0  # no names written beside points that may sit on top of each other
    assert [t.get_text() for t in scatter.get_legend().get_texts()] == [r["name"] for r in stored["rows"]]
    for figure in figures:
        plots.plt.close(figure)
