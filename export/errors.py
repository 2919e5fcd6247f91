"""Export failures that must stop a bundle from shipping."""

from edge_runtime.errors import AditError


class ExportError(AditError):
    """A format could not be produced, or a requested combination of options is invalid."""


class ParityError(ExportError):
    """An exported model disagrees with PyTorch on real inputs beyond the tolerance."""
