"""The generator's user-facing error type."""

from edge_runtime.errors import AditError


class SynthError(AditError):
    """A generation request cannot be honoured: unknown preset, bad seed, unusable output folder."""
