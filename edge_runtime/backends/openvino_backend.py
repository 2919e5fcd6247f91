"""OpenVINO: the fastest CPU backend on Intel boxes, also for an iGPU or NPU when present."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openvino as ov

from edge_runtime.backends.base import Backend, BackendOptions, Shape, Signature, register_backend
from edge_runtime.errors import BackendUnavailableError

_PRECISION_NAMES = {"f32": "fp32", "bf16": "bf16", "f16": "fp16"}


@register_backend
class OpenVinoBackend(Backend):
    name = "openvino"
    formats = ("openvino", "onnx")

    def __init__(self, model_path: Path, options: BackendOptions, declared_precision: str = "fp32") -> None:
        super().__init__(model_path, options, declared_precision)
        core = ov.Core()
        config: dict[str, str] = {"PERFORMANCE_HINT": options.mode.upper()}
        if options.threads:
            config["INFERENCE_NUM_THREADS"] = str(options.threads)
        if options.precision_hint:
            config["INFERENCE_PRECISION_HINT"] = options.precision_hint
        try:
            self.compiled = core.compile_model(str(model_path), options.device, config)
        except RuntimeError as exc:
            raise BackendUnavailableError(
                f"{model_path}: OpenVINO cannot compile it for {options.device} ({exc})"
            ) from exc
        self.request = self.compiled.create_infer_request()
        # Throughput mode: one request per stream, frames of a batch (one per camera) run in parallel.
        self.queue = ov.AsyncInferQueue(self.compiled) if options.mode == "throughput" else None

    def infer(self, batch: np.ndarray) -> list[np.ndarray]:
        queue = self.queue
        if queue is None or len(batch) == 1:
            results = self.request.infer({0: batch})
            return [np.asarray(results[output]) for output in self.compiled.outputs]
        return self._infer_async(queue, batch)

    def _infer_async(self, queue: ov.AsyncInferQueue, batch: np.ndarray) -> list[np.ndarray]:
        """Each frame as its own request through the infer-request queue; outputs stacked in order."""
        per_frame: list[list[np.ndarray]] = [[] for _ in range(len(batch))]

        def done(request: ov.InferRequest, index: int) -> None:
            per_frame[index] = [np.array(request.get_output_tensor(i).data) for i in range(len(self.compiled.outputs))]

        queue.set_callback(done)
        for index in range(len(batch)):
            queue.start_async({0: batch[index : index + 1]}, index)
        queue.wait_all()
        return [np.concatenate([frame[k] for frame in per_frame]) for k in range(len(self.compiled.outputs))]

    @property
    def runtime_precision(self) -> str:
        """E.g. ``bf16`` for an FP32 IR on an AVX512-BF16 CPU unless f32 was forced."""
        hint = self.compiled.get_property("INFERENCE_PRECISION_HINT").to_string()
        compute = _PRECISION_NAMES.get(hint, hint)
        return f"int8+{compute}" if self.declared_precision == "int8" else compute

    def signature(self) -> Signature:
        return Signature(_shape(self.compiled.inputs[0]), [_shape(o) for o in self.compiled.outputs])


def _shape(port: ov.Output) -> Shape:
    shape = port.get_partial_shape()
    if shape.rank.is_dynamic:
        return ()
    return tuple(d.get_length() if d.is_static else None for d in shape)
