"""Run every artifact of a verified bundle once on a zero input: it loads, runs, and has the right shape."""

from __future__ import annotations

import numpy as np

from edge_runtime.bundle import Bundle
from edge_runtime.errors import BundleError
from edge_runtime.model import BundleModel


def smoke_run(bundle: Bundle) -> dict[str, str]:
    """``{artifact key: "ran in <precision>, outputs [shapes]"}``; raises BundleError naming the artifact."""
    spec = bundle.manifest.input
    height, width = spec.size
    shape = (1, 3, height, width) if spec.layout == "NCHW" else (1, height, width, 3)
    outcomes = {}
    for artifact in bundle.manifest.artifacts:
        try:
            model = BundleModel(bundle, artifact)
            outputs = model.infer(np.zeros(shape, dtype=np.float32))
        except Exception as exc:  # any backend failure means the artifact cannot ship
            raise BundleError(f"{bundle.root}: {artifact.file} does not run on a zero input ({exc})") from exc
        if bundle.manifest.task == "classify" and outputs[0].shape[-1] != len(bundle.manifest.classes):
            raise BundleError(
                f"{bundle.root}: {artifact.file} returns {outputs[0].shape[-1]} scores for {len(bundle.manifest.classes)} classes"
            )
        outcomes[artifact.key] = f"ran in {model.runtime_precision}, outputs {[list(o.shape) for o in outputs]}"
    return outcomes
