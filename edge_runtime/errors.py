"""Typed errors that name the input and what is wrong with it."""


class AditError(Exception):
    """Base class of adit's user-facing errors (the CLI prints them without a traceback)."""


class BundleError(AditError):
    """A bundle is missing, malformed, tampered with, or names a file outside itself."""


class ImageError(AditError):
    """An image could not be read or has a shape preprocessing cannot use."""


class BackendUnavailableError(AditError):
    """An inference runtime is not installed or cannot load the artifact."""


class ConfigError(AditError):
    """A configuration file or override is invalid; the message names the field."""


class SourceError(AditError):
    """A camera or video source cannot be opened or read; the message names it."""


class InferenceError(AditError):
    """The model failed on a frame: fatal in replay (every frame counts); the daemon counts and skips it."""


class RulesError(AditError):
    """A camera's rules (or belt monitor, or snapshots) raised on a frame: fatal in replay, as a failed
    inference is; the daemon counts it and goes on with the next frame."""
