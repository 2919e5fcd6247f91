"""What turning a decoded frame into the model's outputs costs, preprocessing on the host or in the graph.

Three ways for one 640x360 frame and the same artifact: numpy on the host (``preprocess``, float32
in), the OpenVINO graph doing colour order, normalisation and layout after OpenCV resized the uint8
frame (what the daemon runs), and the graph doing the resize too (PrePostProcessor's RESIZE_LINEAR
on the full frame). CPU time counts every thread of the process (OpenVINO's and OpenCV's pools).
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable

import numpy as np
import openvino as ov

from edge_runtime.backends import BackendOptions
from edge_runtime.backends.openvino_preprocess import embed_preprocessing
from edge_runtime.bundle import Bundle
from edge_runtime.model import BundleModel


def cpu_and_wall_ms(call: Callable[[], object], seconds: float, warmup: int = 10) -> dict[str, float]:
    """Process CPU and wall milliseconds per call of ``call``, after ``warmup`` calls, for ``seconds``."""
    for _ in range(warmup):
        call()
    calls, before, started = 0, resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    while calls < 50 or time.perf_counter() - started < seconds:
        call()
        calls += 1
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return {"cpu_ms": round(1000.0 * cpu / calls, 3), "wall_ms": round(1000.0 * wall / calls, 3)}


def preprocessing_costs(
    bundle: Bundle, artifact: str | None, frame: np.ndarray, seconds: float
) -> dict[str, dict]:
    """Frame to outputs per way; ``resize_in_graph`` only for a stretch resize on an OpenVINO artifact."""
    host = BundleModel(bundle, artifact, options=BackendOptions(preprocess="host"))
    costs = {"host": cpu_and_wall_ms(lambda: host.infer(host.prepare([frame])), seconds)}
    graph = BundleModel(bundle, artifact, options=BackendOptions(preprocess="graph"))
    if not graph.graph_preprocessing:
        return costs
    costs["graph"] = cpu_and_wall_ms(lambda: graph.infer(graph.prepare([frame])), seconds)
    spec = bundle.manifest.input
    if spec.resize == "stretch":
        core = ov.Core()
        model = embed_preprocessing(
            core.read_model(str(bundle.path_of(host.artifact))), spec, resize_in_graph=True
        )
        request = core.compile_model(model, "CPU", {"PERFORMANCE_HINT": "LATENCY"}).create_infer_request()
        costs["graph_resize"] = cpu_and_wall_ms(lambda: request.infer({0: frame[None]}), seconds)
    return costs
