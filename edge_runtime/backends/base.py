"""The small interface every inference backend implements, and the registry that names them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from edge_runtime.bundle import InputSpec
from edge_runtime.errors import BackendUnavailableError
from edge_runtime.registry import Registry

Outputs = list[np.ndarray]
Done = Callable[[Outputs], None]
Failed = Callable[[Exception], None]

Shape = tuple[int | None, ...]  # None: a dimension the model leaves dynamic


@dataclass(frozen=True)
class Signature:
    """The tensor shapes a loaded model declares: what the start-up check holds against the manifest."""

    input: Shape
    outputs: list[Shape]


@dataclass(frozen=True)
class BackendOptions:
    """Runtime knobs shared by all backends; each backend uses what applies to it."""

    device: str = "CPU"
    threads: int | None = None
    precision_hint: str | None = None  # OpenVINO: "f32", "bf16", "f16"; None = runtime default
    mode: str = "latency"  # "latency" (batch 1, one request) or "throughput" (streams, async)
    # "graph": backends that can (``graph_preprocessing``) build the manifest's preprocessing into the model
    preprocess: Literal["host", "graph"] = "host"


class Backend(ABC):
    """Loads one artifact and runs batches through it."""

    name: str = ""
    formats: tuple[str, ...] = ()
    graph_preprocessing: bool = False  # can take uint8 frames and preprocess them inside the model

    def __init__(
        self,
        model_path: Path,
        options: BackendOptions,
        declared_precision: str = "fp32",
        input_spec: InputSpec | None = None,
    ) -> None:
        """``input_spec``: build this preprocessing into the model (only where ``graph_preprocessing``);
        ``infer`` then takes ``preprocess.resized_batch`` output, uint8 BGR NHWC."""
        if input_spec is not None and not self.graph_preprocessing:
            raise BackendUnavailableError(f"backend {self.name!r} cannot preprocess inside the model")
        self.model_path = Path(model_path)
        self.options = options
        self.declared_precision = declared_precision
        self.input_spec = input_spec
        self.load()

    @abstractmethod
    def load(self) -> None:
        """Load ``model_path`` into the runtime per ``options`` (and ``input_spec``); raise
        BackendUnavailableError naming the file when the runtime cannot."""

    @abstractmethod
    def infer(self, batch: np.ndarray) -> Outputs:
        """Run a preprocessed batch (float32, or uint8 frames with ``input_spec``); the outputs in order."""

    def start(self, batch: np.ndarray, done: Done, failed: Failed) -> None:
        """Run ``batch`` and hand its outputs to ``done``, or what the runtime raised to ``failed``: one of
        them once per batch, so a caller counting batches in flight never waits for one that failed. Here
        synchronously; backends with an async API return at once and call them from their own thread
        (see ``wait``)."""
        try:
            outputs = self.infer(batch)
        except Exception as exc:  # noqa: BLE001 - any runtime error fails this batch, not the caller
            failed(exc)
            return
        done(outputs)

    def wait(self) -> None:  # noqa: B027 - synchronous backends have nothing to wait for
        """Return once every ``start``ed batch has been handed to its ``done``."""

    def idle(self) -> bool:
        """``start`` would not block: a synchronous backend always runs the next batch at once."""
        return True

    @property
    @abstractmethod
    def runtime_precision(self) -> str:
        """The precision the runtime really computes in (OpenVINO may run an FP32 IR in bf16)."""

    @abstractmethod
    def signature(self) -> Signature:
        """The model's declared input and output shapes (before any preprocessing the runtime adds)."""


_REGISTRY: Registry[type[Backend]] = Registry("backend")
_UNAVAILABLE: dict[str, str] = {}


def register_backend(cls: type[Backend]) -> type[Backend]:
    """Class decorator: a backend registers under its own ``name``."""
    return _REGISTRY.register(cls.name)(cls)


def mark_unavailable(name: str, reason: str) -> None:
    """Record a backend whose runtime failed to import, so it is reported rather than crashing."""
    _UNAVAILABLE[name] = reason


def list_backends() -> list[str]:
    return _REGISTRY.names()


def backend_for_format(artifact_format: str) -> str:
    for name in _REGISTRY.names():
        if artifact_format in _REGISTRY.require(name).formats:
            return name
    reasons = "; ".join(f"{n}: {r}" for n, r in _UNAVAILABLE.items()) or "none registered"
    raise BackendUnavailableError(f"no available backend runs {artifact_format!r} artifacts ({reasons})")


def backend_class(name: str) -> type[Backend]:
    if name in _UNAVAILABLE:
        raise BackendUnavailableError(f"backend {name!r} is unavailable: {_UNAVAILABLE[name]}")
    factory: type[Backend] | None = _REGISTRY.get(name)
    if factory is None:
        raise BackendUnavailableError(f"unknown backend {name!r}; available: {', '.join(list_backends())}")
    return factory


def create_backend(
    name: str,
    model_path: Path,
    options: BackendOptions | None = None,
    declared_precision: str = "fp32",
    input_spec: InputSpec | None = None,
) -> Backend:
    return backend_class(name)(model_path, options or BackendOptions(), declared_precision, input_spec)
