"""One manifest entry per artifact, listing every file the runtime will read for it, with digests.

OpenVINO reads ``NAME.bin`` beside ``NAME.xml``; ONNX Runtime reads the external-data files an
``.onnx`` names (models over 2 GB, or saved with ``save_as_external_data``). The runtime refuses a
bundle holding a file its manifest does not list (``edge_runtime.bundle``), so every bundle writer
builds its entries here.
"""

from __future__ import annotations

from pathlib import Path

import onnx
from onnx.external_data_helper import ExternalDataInfo, _get_all_tensors, uses_external_data

from edge_runtime.bundle import Artifact, file_digest


def artifact_entry(root: Path, key: str, path: Path) -> Artifact:
    """The manifest entry of the artifact ``key`` (``format-precision``) written at ``path`` in ``root``."""
    fmt, precision = key.split("-")
    weights = file_digest(path.with_suffix(".bin"), root) if fmt == "openvino" else None
    data = [file_digest(extra, root) for extra in external_data_files(path)] if fmt == "onnx" else []
    return Artifact(
        **file_digest(path, root).model_dump(), format=fmt, precision=precision, weights=weights, data=data
    )


def external_data_files(path: Path) -> list[Path]:
    """The files an ONNX model keeps tensors in, beside it; empty for a self-contained model."""
    model = onnx.load(str(path), load_external_data=False)
    locations = {ExternalDataInfo(t).location for t in _get_all_tensors(model) if uses_external_data(t)}
    return [path.parent / location for location in sorted(locations)]
