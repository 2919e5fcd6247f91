"""A model ready to predict: preprocessing, an infer function and decoding joined.

``Predictor`` is the one path from frames (or sample windows) to predictions: training's
evaluation feeds it a PyTorch forward, export's gate and the benchmarks feed it a runtime, and the
daemon runs ``BundleModel``, the same class over a bundle's artifact. So every figure adit reports
was produced by the code that runs on the device.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np

from edge_runtime.backends import (
    BackendOptions,
    Done,
    Failed,
    Signature,
    backend_class,
    backend_for_format,
    create_backend,
)
from edge_runtime.backends.base import Shape
from edge_runtime.bundle import Artifact, Bundle, ModelInterface
from edge_runtime.detection import PixelDetection, decode_boxes
from edge_runtime.errors import BundleError
from edge_runtime.postprocess import Classification, Prediction, decoder_for
from edge_runtime.postprocess_spec import BoxesPost
from edge_runtime.preprocess import preprocess, resized_batch, to_bgr8
from edge_runtime.segmentation import Segmentation, decode_masks
from edge_runtime.signal import SPECTRA, prepare_windows

Infer = Callable[[np.ndarray], list[np.ndarray]]
PrecisionChoice = (
    str  # "auto" (the bundle's measured precision), "default" (the runtime's), "f32", "bf16", "f16"
)


class Predictor:
    """A model's interface (classes, preprocessing, decoding) around any infer function."""

    def __init__(self, interface: ModelInterface, infer: Infer, *, name: str = "model") -> None:
        self.interface = interface
        self.name = name  # what errors call it: the bundle's folder, or the checkpoint
        self._infer = infer

    def prepare(self, frames: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """Frames -> tensor; with a ``signal`` section the "frames" are (N, window) sample windows."""
        if self.interface.signal is not None:
            return prepare_windows(frames, self.interface.signal)
        return preprocess(frames, self.interface.input)

    def infer(self, batch: np.ndarray) -> list[np.ndarray]:
        return self._infer(batch)

    @property
    def max_batch(self) -> int | None:
        """Frames one ``infer`` call may take: detectors are exported at batch 1, the rest are dynamic."""
        post = self.interface.postprocess
        return post.batch if isinstance(post, BoxesPost) else None

    def postprocess(
        self, outputs: list[np.ndarray], frame_shapes: Sequence[tuple[int, int]] | None = None
    ) -> list[Prediction]:
        """Decode the outputs of ``infer`` by the model's output kind (separate: callers time each stage).

        ``frame_shapes`` are the (height, width) of the frames that went in: boxes and masks are
        mapped back to them (classifiers do not need them).
        """
        return decoder_for(self.interface.postprocess.type)(outputs, self.interface, frame_shapes)

    def classify(self, frames: np.ndarray | Sequence[np.ndarray]) -> list[Classification]:
        self._expect("scores", "a classifier")
        return self.postprocess(self.infer(self.prepare(frames)))  # type: ignore[return-value]

    def detect(
        self, frames: np.ndarray | Sequence[np.ndarray], *, min_score: float | None = None
    ) -> list[list[PixelDetection]]:
        """Boxes in frame pixels per frame; detectors are exported at batch 1, so frames run one by one."""
        post = self.interface.postprocess
        if not isinstance(post, BoxesPost):
            raise BundleError(f"{self.name}: task {self.interface.task!r} is not a detector")
        results = []
        for frame in _as_frames(frames):
            frame = to_bgr8(frame)
            outputs = self.infer(self.prepare(frame))
            spec, classes = self.interface.input, self.interface.classes
            results.append(decode_boxes(outputs, frame.shape[:2], spec, classes, post, min_score=min_score))
        return results

    def segment(self, frames: np.ndarray | Sequence[np.ndarray]) -> list[Segmentation]:
        """A class mask in frame pixels and per-class area fractions per frame."""
        self._expect("mask", "a segmenter")
        frames = _as_frames(frames)
        outputs = self.infer(self.prepare(frames))
        return decode_masks(
            outputs, [f.shape[:2] for f in frames], self.interface.input, self.interface.classes
        )

    def _expect(self, kind: str, what: str) -> None:
        if self.interface.postprocess.type != kind:
            raise BundleError(f"{self.name}: task {self.interface.task!r} is not {what}")


class BundleModel(Predictor):
    """One artifact of a verified bundle, loaded into a backend and checked against its manifest."""

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
        check_signature(self.manifest, self.backend.signature(), f"{bundle.root}: {self.artifact.file}")
        super().__init__(bundle.manifest, self.backend.infer, name=str(bundle.root))

    def prepare(self, frames: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """Frames -> model input: with graph preprocessing the resized uint8 frames (the backend does
        the rest), else as every ``Predictor`` does."""
        if self.graph_preprocessing:
            return resized_batch(frames, self.manifest.input)
        return super().prepare(frames)

    def start(self, batch: np.ndarray, done: Done, failed: Failed) -> None:
        """``infer`` that hands the outputs to ``done`` (or what the runtime raised to ``failed``),
        asynchronously in OpenVINO's throughput mode."""
        self.backend.start(batch, done, failed)

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
    def runtime_precision(self) -> str:
        return self.backend.runtime_precision


def load_model(
    bundle: Bundle,
    artifact: str | None,
    *,
    precision: PrecisionChoice = "auto",
    device: str = "CPU",
    threads: int | None = None,
    mode: str = "latency",
    preprocess: Literal["host", "graph"] = "host",
) -> BundleModel:
    """The daemon's way in: the site's settings resolved once against the bundle, the model checked."""
    chosen = bundle.artifact(artifact)
    hint = resolve_precision(precision, chosen)
    options = BackendOptions(
        device=device, threads=threads, precision_hint=hint, mode=mode, preprocess=preprocess
    )
    return BundleModel(bundle, chosen, options=options)


def resolve_precision(choice: PrecisionChoice, artifact: Artifact) -> str | None:
    """The inference-precision hint to load ``artifact`` with: the site's choice over the bundle's.

    ``auto`` runs the precision the export gate measured (so the device computes what was gated);
    ``default`` leaves the choice to the runtime (OpenVINO picks bf16 on CPUs that have it).
    """
    if choice == "auto":
        return artifact.precision_hint
    return None if choice == "default" else choice


def expected_input(interface: ModelInterface) -> tuple[tuple[int | None, ...], str]:
    """The input shape the manifest promises (batch left open) and the manifest field that sets it."""
    signal = interface.signal
    if signal is not None:
        if signal.representation == "waveform":
            return (None, 1, signal.window), "signal.window"
        if signal.representation in SPECTRA:
            return (None, signal.channels, signal.bins), "signal.channels/signal.bins"
        return (None, signal.channels, *signal.image_size), "signal.image_size"
    height, width = interface.input.size
    if interface.input.layout == "NCHW":
        return (None, 3, height, width), "input.size/input.layout"
    return (None, height, width, 3), "input.size/input.layout"


def check_signature(interface: ModelInterface, signature: Signature, where: str) -> None:
    """Refuse a model whose tensors do not fit its manifest, naming the field, before any frame runs."""
    wanted, field = expected_input(interface)
    if not _fits(signature.input, wanted):
        raise BundleError(
            f"{where}: manifest {field} promises input {_shape_text(wanted)}, "
            f"the model takes {_shape_text(signature.input)}"
        )
    problem = interface.postprocess.check_outputs(signature.outputs, len(interface.classes))
    if problem is not None:
        raise BundleError(f"{where}: manifest classes/postprocess do not fit the model: {problem}")


def _fits(actual: Shape, wanted: Shape) -> bool:
    if not actual:  # a rank the runtime leaves dynamic: nothing to hold against
        return True
    return len(actual) == len(wanted) and all(
        a is None or w is None or a == w for a, w in zip(actual, wanted, strict=True)
    )


def _shape_text(shape: Shape) -> str:
    return "(" + ", ".join("N" if d is None else str(d) for d in shape) + ")"


def _as_frames(frames: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    """One frame (H, W[, C]) or a batch/sequence of them -> a list of frames."""
    if isinstance(frames, np.ndarray) and frames.ndim <= 3:
        return [frames]
    return list(frames)
