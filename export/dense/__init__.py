"""Export for detection and segmentation checkpoints: the same bundle contract as classification.

``export.build.export_bundle`` hands a ``task: detect|segment`` checkpoint to ``export_dense_bundle``.
"""

from export.dense.build import dense_summary, export_dense_bundle

__all__ = ["dense_summary", "export_dense_bundle"]
