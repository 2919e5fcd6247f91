"""A bundle artifact ready to run: preprocessing, backend and post-processing joined.

Export's accuracy gate, the benchmarks and the daemon all predict through this class, so every
figure adit reports was produced by the code that runs on the device.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edge_runtime.backends import BackendOptions, backend_for_format, create_backend
from edge_runtime.bundle import Artifact, Bundle
from edge_runtime.errors import BundleError
from edge_runtime.postprocess import Classification, classify
from edge_runtime.preprocess import preprocess
from edge_runtime.signal import prepare_windows


class BundleModel:
    """One artifact of a verified bundle, loaded into a backend."""

    def __init__(
        self,
        bundle: Bundle,
        artifact: Artifact | str | None = None,
        *,
        backend: str | None = None,
        options: BackendOptions | None = None,
    ) -> None:
        self.bundle = bundle
        self.manifest = bundle.manifest
        self.artifact = artifact if isinstance(artifact, Artifact) else bundle.artifact(artifact)
        self.backend_name = backend or backend_for_format(self.artifact.format)
        self.backend = create_backend(
            self.backend_name, bundle.path_of(self.artifact), options, self.artifact.precision
        )

    def prepare(self, frames: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """Frames -> tensor; for task signal the "frames" are (N, window) sample windows."""
        if self.manifest.signal is not None:
            return prepare_windows(frames, self.manifest.signal)
        return preprocess(frames, self.manifest.input)

    def infer(self, batch: np.ndarray) -> list[np.ndarray]:
        return self.backend.infer(batch)

    def postprocess(self, outputs: list[np.ndarray]) -> list[Classification]:
        """Decode the outputs of ``infer``; separate so callers can time each stage."""
        if self.manifest.task not in ("classify", "signal"):
            raise BundleError(f"{self.bundle.root}: task {self.manifest.task!r} is not a classifier")
        return classify(outputs, self.manifest.classes, apply_softmax=self.manifest.postprocess.get("softmax", True))

    def classify(self, frames: np.ndarray | Sequence[np.ndarray]) -> list[Classification]:
        return self.postprocess(self.infer(self.prepare(frames)))

    @property
    def runtime_precision(self) -> str:
        return self.backend.runtime_precision
