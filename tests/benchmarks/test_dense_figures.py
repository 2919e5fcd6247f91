"""The dense figures' report lists an artifact the export gate could not run, without timing it."""

from benchmarks.dense_figures import render


def test_an_artifact_the_gate_could_not_run_is_listed_untimed():
    results = {
        "task": "detect",
        "bundle": "b",
        "input": [320, 320],
        "torch_threads": 2,
        "metric": "map50",
        "rows": [
            {
                "artifact": "pytorch-fp32 (eager)",
                "p50_ms": 98.1,
                "ratio_to_pytorch": 1.0,
                "mb": None,
                "status": "reference",
                "metric": None,
            },
            {
                "artifact": "onnx-int8",
                "p50_ms": None,
                "ratio_to_pytorch": None,
                "mb": 4.48,
                "status": "rejected",
                "metric": None,
            },
            {
                "artifact": "openvino-int8",
                "p50_ms": 12.6,
                "ratio_to_pytorch": 0.128,
                "mb": 4.81,
                "status": "shipped",
                "metric": 0.681,
            },
        ],
    }
    lines = render(results).splitlines()
    assert "| onnx-int8 |  | – | – | 4.48 | rejected |" in lines
    assert "| openvino-int8 | 68.10 | 12.6 | 0.13 | 4.81 | shipped |" in lines
