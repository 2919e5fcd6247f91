"""OpenVINO: the fastest CPU backend on Intel boxes, also for an iGPU or NPU when present."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import openvino as ov

from edge_runtime.backends.base import Backend, Outputs, Shape, Signature, register_backend
from edge_runtime.backends.openvino_preprocess import embed_preprocessing
from edge_runtime.errors import BackendUnavailableError

_PRECISION_NAMES = {"f32": "fp32", "bf16": "bf16", "f16": "fp16"}


@register_backend
class OpenVinoBackend(Backend):
    name = "openvino"
    formats = ("openvino", "onnx")
    graph_preprocessing = True

    def load(self) -> None:
        options, core = self.options, ov.Core()
        config: dict[str, str] = {"PERFORMANCE_HINT": options.mode.upper()}
        if options.threads:
            config["INFERENCE_NUM_THREADS"] = str(options.threads)
        if options.precision_hint:
            config["INFERENCE_PRECISION_HINT"] = options.precision_hint
        try:
            model = core.read_model(str(self.model_path))
            # as exported, before the preprocessing built in below (which takes uint8 NHWC frames)
            self._signature = Signature(_shape(model.inputs[0]), [_shape(o) for o in model.outputs])
            if self.input_spec is not None:
                model = embed_preprocessing(model, self.input_spec)
            self.compiled = core.compile_model(model, options.device, config)
        except RuntimeError as exc:
            raise BackendUnavailableError(
                f"{self.model_path}: OpenVINO cannot compile it for {options.device} ({exc})"
            ) from exc
        self.request = self.compiled.create_infer_request()
        # Throughput mode: a queue of requests (one per stream) that frames of any camera are started on.
        self.queue = ov.AsyncInferQueue(self.compiled) if options.mode == "throughput" else None
        if self.queue is not None:
            self.queue.set_callback(self._finished)

    def infer(self, batch: np.ndarray) -> Outputs:
        if self.queue is None or len(batch) == 1:
            results = self.request.infer({0: batch})
            return [np.asarray(results[output]) for output in self.compiled.outputs]
        return self._infer_async(batch)

    def start(self, batch: np.ndarray, done: Callable[[Outputs], None]) -> None:
        """Throughput mode: queue ``batch`` on the next idle request (blocking while all are busy)."""
        if self.queue is None:
            done(self.infer(batch))
        else:
            self.queue.start_async({0: batch}, done)

    def wait(self) -> None:
        if self.queue is not None:
            self.queue.wait_all()

    def idle(self) -> bool:
        return self.queue is None or self.queue.is_ready()

    def _finished(self, request: ov.InferRequest, done: Callable[[Outputs], None]) -> None:
        # copies: the request's output tensors are reused by the next frame started on it
        done([np.array(request.get_output_tensor(i).data) for i in range(len(self.compiled.outputs))])

    def _infer_async(self, batch: np.ndarray) -> Outputs:
        """Each frame as its own request through the infer-request queue; outputs stacked in order."""
        per_frame: list[Outputs] = [[] for _ in range(len(batch))]

        def keep(index: int) -> Callable[[Outputs], None]:
            return lambda outputs: per_frame.__setitem__(index, outputs)

        for index in range(len(batch)):
            self.start(batch[index : index + 1], keep(index))
        self.wait()
        return [np.concatenate([frame[k] for frame in per_frame]) for k in range(len(self.compiled.outputs))]

    @property
    def runtime_precision(self) -> str:
        """E.g. ``bf16`` for an FP32 IR on an AVX512-BF16 CPU unless f32 was forced."""
        hint = self.compiled.get_property("INFERENCE_PRECISION_HINT").to_string()
        compute = _PRECISION_NAMES.get(hint, hint)
        return f"int8+{compute}" if self.declared_precision == "int8" else compute

    def signature(self) -> Signature:
        return self._signature


def _shape(port: ov.Output) -> Shape:
    shape = port.get_partial_shape()
    if shape.rank.is_dynamic:
        return ()
    return tuple(d.get_length() if d.is_static else None for d in shape)
