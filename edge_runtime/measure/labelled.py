"""A labelled folder on the device: class folders (``<root>/<class>/<image>``, or ``<root>/test/<class>/``)
whose names are the bundle's classes, read with the daemon's own image reader, for top-1 without torch."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_runtime.bundle import Bundle
from edge_runtime.errors import BundleError, ConfigError
from edge_runtime.model import Predictor
from edge_runtime.preprocess import read_image

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class LabelledImages:
    root: Path
    images: list[tuple[Path, int]]  # (image, class index in the bundle)

    @classmethod
    def read(cls, root: Path, bundle: Bundle) -> LabelledImages:
        """Class folders named like the bundle's classes; ConfigError naming the folder otherwise."""
        if bundle.manifest.postprocess.type != "scores":
            raise BundleError(
                f"{bundle.root}: accuracy from a labelled folder is measured for classifiers; this bundle "
                f"is a {bundle.manifest.task} model (measure it with `adit val` on the workstation)"
            )
        if (root / "test").is_dir():
            root = root / "test"
        if not root.is_dir():
            raise ConfigError(f"labelled={root}: folder not found")
        classes = bundle.manifest.classes
        folders = sorted(p for p in root.iterdir() if p.is_dir())
        unknown = [p.name for p in folders if p.name not in classes]
        if unknown or not folders:
            raise ConfigError(
                f"labelled={root}: expected class folders named like the bundle's classes "
                f"({', '.join(classes)})"
                + (f"; unknown: {', '.join(unknown)}" if unknown else "; found none")
            )
        images = [
            (path, classes.index(folder.name))
            for folder in folders
            for path in sorted(folder.iterdir())
            if path.suffix.lower() in IMAGE_SUFFIXES
        ]
        if not images:
            raise ConfigError(f"labelled={root}: no images in its class folders")
        return cls(root, images)

    def __len__(self) -> int:
        return len(self.images)

    def first_frame(self) -> np.ndarray:
        return read_image(self.images[0][0])

    def top1(self, model: Predictor) -> float:
        """Share of images whose top class is their folder's, one image per call as the daemon runs."""
        hits = sum(model.classify([read_image(path)])[0].index == label for path, label in self.images)
        return hits / len(self.images)
