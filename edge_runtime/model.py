"""A bundle artifact ready to run: preprocessing, backend and post-processing joined.

Export's accuracy gate, the benchmarks and the daemon all predict through this class, so every
figure adit reports was produced by the code that runs on the device.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from edge_runtime.backends import BackendOptions, Outputs, backend_class, backend_for_format, create_backend
from edge_runtime.bundle import Artifact, Bundle
from edge_runtime.detection import PixelDetection, decode_boxes
from edge_runtime.errors import BundleError
from edge_runtime.postprocess import Classification, Prediction, decoder_for, list_postprocess
from edge_runtime.preprocess import preprocess, resized_batch, to_bgr8
from edge_runtime.segmentation import Segmentation, decode_masks
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
        options = options or BackendOptions()
        # in the graph where the backend can and the task has images; else numpy on the host
        self.graph_preprocessing = (
            options.preprocess == "graph"
            and backend_class(self.backend_name).graph_preprocessing
            and self.manifest.signal is None
        )
        self.backend = create_backend(
            self.backend_name,
            bundle.path_of(self.artifact),
            options,
            self.artifact.precision,
            self.manifest.input if self.graph_preprocessing else None,
        )

    def prepare(self, frames: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """Frames -> model input: float32 tensor, or with graph preprocessing the resized uint8 frames;
        for task signal the "frames" are (N, window) sample windows."""
        if self.manifest.signal is not None:
            return prepare_windows(frames, self.manifest.signal)
        if self.graph_preprocessing:
            return resized_batch(frames, self.manifest.input)
        return preprocess(frames, self.manifest.input)

    def infer(self, batch: np.ndarray) -> Outputs:
        return self.backend.infer(batch)

    def start(self, batch: np.ndarray, done: Callable[[Outputs], None]) -> None:
        """``infer`` that hands the outputs to ``done``, asynchronously in OpenVINO's throughput mode."""
        self.backend.start(batch, done)

    def wait(self) -> None:
        """Every ``start``ed batch handed to its ``done``."""
        self.backend.wait()

    def idle(self) -> bool:
        """``start`` would not block (always, but in throughput mode with every request busy)."""
        return self.backend.idle()

    @property
    def throughput(self) -> bool:
        return self.backend.options.mode == "throughput"

    @property
    def max_batch(self) -> int | None:
        """Frames one ``infer`` call may take: detectors are exported at batch 1, the rest are dynamic."""
        return 1 if self.manifest.task == "detect" else None

    def postprocess(
        self, outputs: list[np.ndarray], frame_shapes: Sequence[tuple[int, int]] | None = None
    ) -> list[Prediction]:
        """Decode the outputs of ``infer`` by the bundle's task; separate so callers can time each stage.

        ``frame_shapes`` are the (height, width) of the frames that went in: boxes and masks are
        mapped back to them (classifiers do not need them).
        """
        decoder = decoder_for(self.manifest.task)
        if decoder is None:
            raise BundleError(
                f"{self.bundle.root}: no post-processing for task {self.manifest.task!r}; "
                f"known: {', '.join(list_postprocess())}"
            )
        return decoder(outputs, self.manifest, frame_shapes)

    def classify(self, frames: np.ndarray | Sequence[np.ndarray]) -> list[Classification]:
        if self.manifest.task not in ("classify", "signal"):
            raise BundleError(f"{self.bundle.root}: task {self.manifest.task!r} is not a classifier")
        return self.postprocess(self.infer(self.prepare(frames)))  # type: ignore[return-value]

    # --- detection and segmentation ---------------------------------------------------------------

    def detect(
        self, frames: np.ndarray | Sequence[np.ndarray], *, min_score: float | None = None
    ) -> list[list[PixelDetection]]:
        """Boxes in frame pixels per frame; detectors are exported at batch 1, so frames run one by one."""
        if self.manifest.task != "detect":
            raise BundleError(f"{self.bundle.root}: task {self.manifest.task!r} is not a detector")
        results = []
        for frame in _as_frames(frames):
            frame = to_bgr8(frame)
            outputs = self.infer(self.prepare(frame))
            results.append(
                decode_boxes(
                    outputs, frame.shape[:2], self.manifest.input, self.manifest.classes,
                    self.manifest.postprocess, min_score=min_score,
                )
            )
        return results

    def segment(self, frames: np.ndarray | Sequence[np.ndarray]) -> list[Segmentation]:
        """A class mask in frame pixels and per-class area fractions per frame."""
        if self.manifest.task != "segment":
            raise BundleError(f"{self.bundle.root}: task {self.manifest.task!r} is not a segmenter")
        frames = _as_frames(frames)
        outputs = self.infer(self.prepare(frames))
        return decode_masks(outputs, [f.shape[:2] for f in frames], self.manifest.input, self.manifest.classes)

    @property
    def runtime_precision(self) -> str:
        return self.backend.runtime_precision


def _as_frames(frames: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    """One frame (H, W[, C]) or a batch/sequence of them -> a list of frames."""
    if isinstance(frames, np.ndarray) and frames.ndim <= 3:
        return [frames]
    return list(frames)
