"""The small interface every inference backend implements, and the registry that names them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_runtime.errors import BackendUnavailableError


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


_REGISTRY: dict[str, type[Backend]] = {}
_UNAVAILABLE: dict[str, str] = {}


def register_backend(cls: type[Backend]) -> type[Backend]:
    if cls.name in _REGISTRY:
        raise ValueError(f"backend {cls.name!r} is registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def mark_unavailable(name: str, reason: str) -> None:
    """Record a backend whose runtime failed to import, so it is reported rather than crashing."""
    _UNAVAILABLE[name] = reason


def list_backends() -> list[str]:
    return sorted(_REGISTRY)


def backend_for_format(artifact_format: str) -> str:
    for name, cls in sorted(_REGISTRY.items()):
        if artifact_format in cls.formats:
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
