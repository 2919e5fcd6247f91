"""Inference backends, registered by name. A runtime that fails to import is reported, not fatal."""

from edge_runtime.backends.base import (
    Backend,
    BackendOptions,
    Done,
    Failed,
    Outputs,
    Signature,
    backend_class,
    backend_for_format,
    create_backend,
    list_backends,
    mark_unavailable,
    register_backend,
)

try:
    from edge_runtime.backends import onnxruntime_backend  # noqa: F401  (registers itself)
except ImportError as exc:
    mark_unavailable("onnxruntime", str(exc))
try:
    from edge_runtime.backends import openvino_backend  # noqa: F401  (registers itself)
except ImportError as exc:
    mark_unavailable("openvino", str(exc))

__all__ = [
    "Backend",
    "BackendOptions",
    "Done",
    "Failed",
    "Outputs",
    "Signature",
    "backend_class",
    "backend_for_format",
    "create_backend",
    "list_backends",
    "register_backend",
]
