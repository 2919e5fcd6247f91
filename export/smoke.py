"""Run every artifact of a verified bundle once on a zero input: it loads, fits its manifest, and runs."""

from __future__ import annotations

import numpy as np

from edge_runtime.bundle import Bundle
from edge_runtime.errors import BundleError
from edge_runtime.model import BundleModel, expected_input


def smoke_run(bundle: Bundle) -> dict[str, str]:
    """``{artifact key: "ran in <precision>, outputs [shapes]"}``; raises BundleError naming the artifact."""
    shape = tuple(1 if dim is None else dim for dim in expected_input(bundle.manifest)[0])
    outcomes = {}
    for artifact in bundle.manifest.artifacts:
        model = BundleModel(
            bundle, artifact
        )  # holds the model's shapes against the manifest, naming the field
        try:
            outputs = model.infer(np.zeros(shape, dtype=np.float32))
        except Exception as exc:  # any backend failure means the artifact cannot ship
            if artifact.status == "rejected":  # the gate knew already; the device never picks it
                outcomes[artifact.key] = f"rejected, does not run ({exc})"
                continue
            raise BundleError(f"{bundle.root}: {artifact.file} does not run on a zero input ({exc})") from exc
        outcomes[artifact.key] = (
            f"ran in {model.runtime_precision}, outputs {[list(o.shape) for o in outputs]}"
        )
    return outcomes
