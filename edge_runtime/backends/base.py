"""The small interface every inference backend implements, and the registry that names them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_runtime.errors import BackendUnavailableError
from edge_runtime.registry import Registry

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


class Backend(ABC):
    """Loads one artifact and runs batches through it."""

    name: str = ""
    formats: tuple[str, ...] = ()

    def __init__(self, model_path: Path, options: BackendOptions, declared_precision: str = "fp32") -> None:
        self.model_path = Path(model_path)
        self.options = options
        self.declared_precision = declared_precision

    @abstractmethod
    def infer(self, batch: np.ndarray) -> list[np.ndarray]:
        """Run a preprocessed float32 batch; return the model's outputs in order."""

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


def create_backend(
    name: str, model_path: Path, options: BackendOptions | None = None, declared_precision: str = "fp32"
) -> Backend:
    if name in _UNAVAILABLE:
        raise BackendUnavailableError(f"backend {name!r} is unavailable: {_UNAVAILABLE[name]}")
    factory: Callable[..., Backend] | None = _REGISTRY.get(name)
    if factory is None:
        raise BackendUnavailableError(f"unknown backend {name!r}; available: {', '.join(list_backends())}")
    return factory(model_path, options or BackendOptions(), declared_precision)
