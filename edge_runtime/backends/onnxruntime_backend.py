"""ONNX Runtime on the CPU: the portable backend for any ``.onnx`` artifact, FP32 or QDQ INT8."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from edge_runtime.backends.base import Backend, Shape, Signature, register_backend
from edge_runtime.errors import BackendUnavailableError


@register_backend
class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"
    formats = ("onnx",)

    def load(self) -> None:
        session_options = ort.SessionOptions()
        session_options.log_severity_level = 3  # warnings about unused initialisers are noise
        session_options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if self.options.threads:
            session_options.intra_op_num_threads = self.options.threads
        try:
            self.session = ort.InferenceSession(
                str(self.model_path), session_options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # ORT raises its own unrelated exception types
            raise BackendUnavailableError(f"{self.model_path}: ONNX Runtime cannot load it ({exc})") from exc
        self.input_name = self.session.get_inputs()[0].name

    def infer(self, batch: np.ndarray) -> list[np.ndarray]:
        return self.session.run(None, {self.input_name: batch})

    @property
    def runtime_precision(self) -> str:
        """ONNX Runtime's CPU provider computes in the precision the graph was exported in."""
        return self.declared_precision

    def signature(self) -> Signature:
        outputs = [_shape(output.shape) for output in self.session.get_outputs()]
        return Signature(_shape(self.session.get_inputs()[0].shape), outputs)


def _shape(dims: list[int | str | None]) -> Shape:
    """ONNX Runtime names dynamic dimensions ("batch") or leaves them None."""
    return tuple(d if isinstance(d, int) and d >= 0 else None for d in dims)
