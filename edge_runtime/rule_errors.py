"""A camera's rules step failing on a frame: counted per camera, shown as its health, logged sparingly.

The rules step (the rules, the belt monitor, the snapshots, the site loop) runs for every camera on the
daemon's one inference thread, so an exception there (a bug in a rule, a prediction it cannot take)
used to leave the inference loop and end the daemon: every camera stopped watching until systemd
restarted it. Now it fails only that frame's step, as a machine's thread skips a chunk whose rules raised
(``machine_thread``): the error is counted (``errors`` in the camera's /status, ``adit_camera_errors_total``),
shown as the camera's ``error`` and its ``rules_failing`` condition (/healthz red) until a frame of that
camera goes through its rules again, logged with its traceback and then at most once per ``log_every_s``.
A broken rule is not a failing model: ``inference_failing`` (``inference_faults``) stays the model's.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edge_runtime.sparse_log import SparseLog, error_text

log = logging.getLogger(__name__)

CONDITION = "rules_failing"


@dataclass
class _Camera:
    log: SparseLog
    errors: int = 0
    error: str | None = None  # set while the camera's last rules step failed
    last_error: str | None = None


class RuleErrors:
    """Each camera's rules-step errors; thread-safe (the inference thread writes, HTTP handlers read)."""

    def __init__(self, log_every_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._log_every_s = log_every_s
        self._clock = clock
        self._lock = threading.Lock()
        self._cameras: dict[str, _Camera] = {}

    def failed(self, camera: str, frame: int, error: BaseException, part: str = "rules") -> None:
        """``part`` of ``camera``'s rules step (rules, snapshot, site loop) raised ``error`` on ``frame``."""
        text = error_text(error)
        with self._lock:
            state = self._camera(camera)
            state.errors += 1
            state.error = state.last_error = text
            state.log.failed(
                error,
                f"the {part} failed on frame {frame} (skipped; watching on)",
                "the rules step failed on %d more frame(s) in %.0f s, the last: %s",
            )

    def succeeded(self, camera: str) -> None:
        """A frame of ``camera`` went through its rules step."""
        with self._lock:
            state = self._cameras.get(camera)
            if state is None or state.error is None:
                return
            state.error = None
            state.log.recovered("the rules step works again (%d error(s) unlogged)")

    def state(self, camera: str) -> dict[str, Any]:
        """For /status, /healthz and /metrics: the count, the current error (None: working) and the last."""
        with self._lock:
            state = self._cameras.get(camera)
            if state is None:
                return {"errors": 0, "error": None, "last_error": None}
            return {"errors": state.errors, "error": state.error, "last_error": state.last_error}

    def _camera(self, camera: str) -> _Camera:
        if camera not in self._cameras:
            self._cameras[camera] = _Camera(SparseLog(log, camera, self._log_every_s, self._clock))
        return self._cameras[camera]
