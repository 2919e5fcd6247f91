"""Log a run of repeated failures sparingly: the first with its traceback, then a line per ``every_s``.

A fault that hits every frame (or every window of a machine) would otherwise write a traceback many times
a second and drown the log; a fault that stops and comes back is logged with its traceback again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

ERROR_CHARS = 500  # an exception's message in logs, /status and events: OpenVINO's run to kilobytes


class SparseLog:
    """One source's runs of failures; not thread-safe (the caller's lock or thread serialises the calls)."""

    def __init__(
        self, logger: logging.Logger, source: str, every_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._log = logger
        self._source = source
        self._every_s = every_s
        self._clock = clock
        self._logged_at = float("-inf")  # -inf: no run of failures going on
        self._unlogged = 0  # failures since the last line

    def failed(self, error: BaseException, first: str, more: str) -> None:
        """``first``: the words of a run's first failure, logged with ``error``'s traceback; ``more``: the
        summary line's, a %-format of the failures since the last line (%d), its seconds (%.0f), the error."""
        now = self._clock()
        if now - self._logged_at < self._every_s:
            self._unlogged += 1
            return
        if self._logged_at == float("-inf"):
            self._log.error("%s: %s", self._source, first, exc_info=error)
        else:
            text = error_text(error)
            self._log.error("%s: " + more, self._source, self._unlogged + 1, now - self._logged_at, text)
        self._logged_at, self._unlogged = now, 0

    def recovered(self, words: str) -> None:
        """The source works again: ``words`` (a %-format of the failures never logged, %d) once, if a run
        of failures was logged; the next failure is logged with its traceback again."""
        if self._logged_at == float("-inf"):
            return
        self._log.info("%s: " + words, self._source, self._unlogged)
        self._logged_at, self._unlogged = float("-inf"), 0


def error_text(error: BaseException) -> str:
    """An exception as logs, /status and events show it: its type and message, cut to ``ERROR_CHARS``."""
    return f"{type(error).__name__}: {error}"[:ERROR_CHARS]
