"""OpenVINO: the fastest CPU backend on Intel boxes, also for an iGPU or NPU when present.

In throughput mode frames run on an ``AsyncInferQueue``. When a request fails there (measured with
OpenVINO 2026.4: a Reshape that cannot take the frame, an input of the wrong rank), OpenVINO calls no
callback for it, puts the request back as idle and then re-raises its error from every later
``start_async``, ``wait_all`` and ``get_idle_request_id``: one bad frame would stop all the others.
So each started frame is tracked until its callback runs; on such an error the queue's requests are
waited one by one (the healthy ones finish as usual), the frames whose callback never ran are failed
with the error, and a fresh queue takes over.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import openvino as ov

from edge_runtime.backends.base import (
    Backend,
    Done,
    Failed,
    Outputs,
    Shape,
    Signature,
    register_backend,
)
from edge_runtime.backends.openvino_preprocess import embed_preprocessing
from edge_runtime.errors import BackendUnavailableError

log = logging.getLogger(__name__)

_PRECISION_NAMES = {"f32": "fp32", "bf16": "bf16", "f16": "fp16"}


@dataclass(eq=False)  # compared by identity: the set of frames in flight
class _Job:
    done: Done
    failed: Failed


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
        self.queue = self._new_queue(0) if options.mode == "throughput" else None
        self._lock = threading.Lock()
        self._jobs: set[_Job] = set()  # started, callback not yet run

    def _new_queue(self, jobs: int) -> ov.AsyncInferQueue:
        """``jobs``: requests; 0 lets OpenVINO choose (one per stream)."""
        queue = ov.AsyncInferQueue(self.compiled, jobs)
        queue.set_callback(self._finished)
        return queue

    def infer(self, batch: np.ndarray) -> Outputs:
        if self.queue is None or len(batch) == 1:
            results = self.request.infer({0: batch})
            return [np.asarray(results[output]) for output in self.compiled.outputs]
        return self._infer_async(batch)

    def start(self, batch: np.ndarray, done: Done, failed: Failed) -> None:
        """Throughput mode: queue ``batch`` on the next idle request (blocking while all are busy)."""
        if self.queue is None:
            super().start(batch, done, failed)
            return
        job = _Job(done, failed)
        with self._lock:
            self._jobs.add(job)  # before it starts: its callback may run at once
        try:
            self.queue.start_async({0: batch}, job)
        except Exception:  # noqa: BLE001 - mostly an earlier frame's failed request, re-raised here
            self._forget(job)  # this frame was not started: once more, on the fresh queue
            self._recover()
            with self._lock:
                self._jobs.add(job)
            try:
                self.queue.start_async({0: batch}, job)
            except Exception as exc:  # noqa: BLE001 - this frame's own input, then
                self._forget(job)
                _fail(job, exc)

    def wait(self) -> None:
        if self.queue is None:
            return
        try:
            self.queue.wait_all()
        except RuntimeError:  # a request failed: its frame (and only its) is failed, the queue replaced
            self._recover()

    def idle(self) -> bool:
        return self.queue is None or self.queue.is_ready()

    def _finished(self, request: ov.InferRequest, job: _Job) -> None:
        """On OpenVINO's thread: nothing may raise out of here (pyopenvino would re-raise it on the next
        ``start_async``, in the daemon's loop): a failure to read the outputs or in ``done`` fails the job."""
        self._forget(job)
        try:
            # copies: the request's output tensors are reused by the next frame started on it
            job.done([np.array(request.get_output_tensor(i).data) for i in range(len(self.compiled.outputs))])
        except Exception as exc:  # noqa: BLE001 - see the docstring
            _fail(job, exc)

    def _forget(self, job: _Job) -> None:
        with self._lock:
            self._jobs.discard(job)

    def _recover(self) -> None:
        """Wait for every request of the failed queue, fail the frames whose callback never ran, start anew."""
        old = self.queue
        if old is None:
            return
        errors = []
        for request in old:
            try:
                request.wait()
            except RuntimeError as exc:
                errors.append(exc)
        with self._lock:
            lost, self._jobs = list(self._jobs), set()
        self.queue = self._new_queue(len(old))
        log.warning(
            "%s: %d infer request(s) failed; their frames are skipped, the queue renewed",
            self.model_path,
            len(errors),
        )
        error = errors[0] if errors else RuntimeError("OpenVINO request failed without an error")
        for job in lost:
            _fail(job, error)

    def _infer_async(self, batch: np.ndarray) -> Outputs:
        """Each frame as its own request through the infer-request queue; outputs stacked in order."""
        per_frame: list[Outputs] = [[] for _ in range(len(batch))]

        def keep(index: int) -> Callable[[Outputs], None]:
            return lambda outputs: per_frame.__setitem__(index, outputs)

        errors: list[Exception] = []
        for index in range(len(batch)):
            self.start(batch[index : index + 1], keep(index), errors.append)
        self.wait()
        if errors:
            raise errors[0]
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


def _fail(job: _Job, error: Exception) -> None:
    try:
        job.failed(error)
    except Exception:  # noqa: BLE001 - a caller's handler must not poison the queue either
        log.exception("handling a failed inference raised")
