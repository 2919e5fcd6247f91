"""A bundle artifact ready to run: preprocessing, backend and post-processing joined.

Export's accuracy gate, the benchmarks and the daemon all predict through this class, so every
figure adit reports was produced by the code that runs on the device.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edge_runtime.backends import BackendOptions, backend_for_format, create_backend
from edge_runtime.bundle import Artifact, Bundle
from edge_runtime.detection import Detection, decode_boxes
from edge_runtime.errors import BundleError
from edge_runtime.postprocess import Classification, classify
from edge_runtime.preprocess import preprocess, to_bgr8
from edge_runtime.segmentation import Segmentation, decode_masks


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

    def postprocess(self, outputs: list[np.ndarray]) -> list[Classification]:
        """Decode the outputs of ``infer``; separate so callers can time each stage."""
        if self.manifest.task not in ("classify", "signal"):
            raise BundleError(f"{self.bundle.root}: task {self.manifest.task!r} is not a classifier")
        return classify(outputs, self.manifest.classes, apply_softmax=self.manifest.postprocess.get("softmax", True))

    def classify(self, frames: np.ndarray | Sequence[np.ndarray]) -> list[Classification]:
        return self.postprocess(self.infer(self.prepare(frames)))

    # --- detection and segmentation ---------------------------------------------------------------

    def detect(self, frames: np.ndarray | Sequence[np.ndarray], *, min_score: float | None = None) -> list[list[Detection]]:
        """Boxes in frame pixels per frame; detectors are exported at batch 1, so frames run one by one."""
        if self.manifest.task != "detect":
            raise BundleError(f"{self.bundle.root}: task {self.manifest.task!r} is not a detector")
        frames = [frames] if isinstance(frames, np.ndarray) and frames.ndim == 3 else list(frames)
        results = []
        for frame in frames:
            frame = to_bgr8(frame)
            outputs = self.infer(self.prepare(frame))
            results.append(
                decode_boxes(outputs, frame.shape[:2], self.manifest.input, self.manifest.classes, self.manifest.postprocess, min_score=min_score)
            )
        return results

    def segment(self, frames: np.ndarray | Sequence[np.ndarray]) -> list[Segmentation]:
        """A class mask in frame pixels and per-class area fractions per frame."""
        if self.manifest.task != "segment":
            raise BundleError(f"{self.bundle.root}: task {self.manifest.task!r} is not a segmenter")
        frames = [frames] if isinstance(frames, np.ndarray) and frames.ndim == 3 else list(frames)
        outputs = self.infer(self.prepare(frames))
        return decode_masks(outputs, [f.shape[:2] for f in frames], self.manifest.input, self.manifest.classes)

    @property
    def runtime_precision(self) -> str:
        return self.backend.runtime_precision
