"""Reference statistics for a bundle measured on the device side: the images through the bundle's model.

``measure_reference`` runs the bundle's shipped artifact (the code the daemon runs) over held-out
images, so the confidence distribution is the one the daemon will compare with. The workstation's
bundle builder calls ``measure_frames`` on its validation frames once the artifacts are gated;
``add_reference`` is for bundles built before it did (``python -m edge_runtime.siteloop reference
BUNDLE IMAGES``).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edge_runtime.backends import BackendOptions
from edge_runtime.bundle import Bundle, load_bundle, write_manifest
from edge_runtime.errors import ImageError
from edge_runtime.model import BundleModel
from edge_runtime.preprocess import read_image
from edge_runtime.siteloop.drift import confidence_of
from edge_runtime.siteloop.framestats import ReferenceStats, reference_statistics
from edge_runtime.sources import IMAGE_SUFFIXES


def image_files(folder: Path) -> list[Path]:
    """Every image under ``folder`` (class folders included), sorted."""
    found = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not found:
        raise ImageError(f"{folder}: no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return found


def measure_reference(bundle: Bundle, images: Sequence[Path], artifact: str | None = None) -> ReferenceStats:
    frames = [read_image(path) for path in images]
    return measure_frames(bundle, frames, artifact, source=f"{len(frames)} images measured on the device")


def measure_frames(
    bundle: Bundle,
    frames: Sequence[np.ndarray],
    artifact: str | None = None,
    *,
    source: str,
    threads: int | None = None,
) -> ReferenceStats:
    """The statistics of ``frames`` (BGR) and the confidence the bundle's artifact gives each of them
    (``threads``: its inference threads; None: the runtime's default)."""
    model = BundleModel(bundle, artifact, options=BackendOptions(threads=threads))
    confidences = []
    for frame in frames:
        outputs = model.infer(model.prepare([frame]))
        score = confidence_of(model.postprocess(outputs, [frame.shape[:2]])[0])
        if score is not None:
            confidences.append(score)
    return reference_statistics(frames, confidences or None, source=source)


def add_reference(root: Path, images: Sequence[Path], artifact: str | None = None) -> ReferenceStats:
    """Measure and write the ``reference`` section into the bundle's manifest (files are unchanged)."""
    bundle = load_bundle(root)
    reference = measure_reference(bundle, images, artifact)
    write_manifest(bundle.root, bundle.manifest.model_copy(update={"reference": reference}))
    return reference


def copy_with_reference(
    source: Path, folder: Path, images: Sequence[Path], artifact: str | None = None
) -> tuple[Path, ReferenceStats]:
    """A copy of the bundle at ``source`` in ``folder/bundle`` with its reference measured on ``images``
    (benchmarks: the original bundle stays untouched)."""
    bundle = folder / "bundle"
    shutil.copytree(source, bundle)
    return bundle, add_reference(bundle, images, artifact)
