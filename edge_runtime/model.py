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
from edge_runtime.postprocess import Classification, Prediction, decoder_for, list_postprocess
from edge_runtime.preprocess import preprocess


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
        return preprocess(frames, self.manifest.input)

    def infer(self, batch: np.ndarray) -> list[np.ndarray]:
        return self.backend.infer(batch)

    def postprocess(self, outputs: list[np.ndarray]) -> list[Prediction]:
        """Decode the outputs of ``infer`` by the bundle's task; separate so callers can time each stage."""
        decoder = decoder_for(self.manifest.task)
        if decoder is None:
            raise BundleError(
                f"{self.bundle.root}: no post-processing for task {self.manifest.task!r}; "
                f"known: {', '.join(list_postprocess())}"
            )
        return decoder(outputs, self.manifest.classes, self.manifest.postprocess)

    def classify(self, frames: np.ndarray | Sequence[np.ndarray]) -> list[Classification]:
        if self.manifest.task not in ("classify", "signal"):
            raise BundleError(f"{self.bundle.root}: task {self.manifest.task!r} is not a classifier")
        return self.postprocess(self.infer(self.prepare(frames)))  # type: ignore[return-value]

    @property
    def runtime_precision(self) -> str:
        return self.backend.runtime_precision
