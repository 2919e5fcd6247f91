"""The model failing on some frames: counted per source, logged sparingly, raised as a health event.

A runtime can raise on one frame (an OpenVINO or ONNX Runtime error, a request out of memory, outputs
that cannot be decoded). The daemon skips that frame and goes on with the next: one bad frame must not
stop every camera. This monitor is told of every inference of a camera's frame (or a machine's window):
it counts the failures (``/status``, ``/metrics``), logs the first of a run of failures with its
traceback and then at most one line per ``log_every_s``, and raises ``inference_failing`` (kind
``inference``: ``start``, then ``end`` once a whole window inferred again; docs/events.md) when
``raise_after`` of the source's last ``window`` inferences failed, so an operator learns that a camera
is blind to the model rather than quiet.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from edge_runtime.config.cameras import InferenceFailuresConfig
from edge_runtime.events import Event, duration, health_event, utc_iso
from edge_runtime.sparse_log import SparseLog, error_text

log = logging.getLogger(__name__)

EVENT_TYPE = "inference_failing"


@dataclass
class _Source:
    recent: deque[bool]  # True: failed; the last ``window`` inferences
    log: SparseLog
    failed_recently: int = 0  # True in ``recent``: counted, not summed on every frame
    failures: int = 0
    inferred: int = 0
    last_error: str | None = None
    last_failure_ts: str | None = None
    open: Event | None = None
    opened_at: float = 0.0
    failed_while_open: int = 0
    errors: dict[str, int] = field(default_factory=dict)  # exception type -> count


class InferenceFaults:
    """Judges each source's recent inferences; thread-safe (machines report from their own threads)."""

    def __init__(
        self,
        config: InferenceFailuresConfig,
        model: str,
        emit: Callable[[Event], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``model``: the artifact's key, named in the events; ``emit`` gets the health events."""
        self.config = config
        self.model = model
        self._emit = emit
        self._clock = clock
        self._lock = threading.Lock()
        self._sources: dict[str, _Source] = {}

    def failed(self, source: str, frame: int, error: BaseException) -> None:
        """One frame (window) of ``source`` got no prediction because inference raised ``error``."""
        text = error_text(error)
        with self._lock:
            state = self._source(source)
            _push(state, True)
            state.failures += 1
            state.last_error, state.last_failure_ts = text, utc_iso(time.time())
            state.errors[type(error).__name__] = state.errors.get(type(error).__name__, 0) + 1
            state.log.failed(
                error,
                f"inference failed on frame {frame} (skipped; going on)",
                "inference failed on %d more frame(s) in %.0f s, the last: %s",
            )
            if state.open is not None:
                state.failed_while_open += 1
            elif state.failed_recently >= self.config.raise_after:
                self._raise(source, state, frame)

    def succeeded(self, source: str, frame: int) -> None:
        """One frame (window) of ``source`` inferred."""
        with self._lock:
            state = self._source(source)
            _push(state, False)
            state.inferred += 1
            if state.failed_recently:
                return
            state.log.recovered("inference works again (%d failure(s) unlogged)")
            if state.open is not None:
                self._clear(source, state, state.open, frame)

    def _source(self, source: str) -> _Source:
        if source not in self._sources:
            sparse = SparseLog(log, source, self.config.log_every_s, self._clock)
            self._sources[source] = _Source(recent=deque(maxlen=self.config.window), log=sparse)
        return self._sources[source]

    def _raise(self, source: str, state: _Source, frame: int) -> None:
        extra = {
            "model": self.model,
            "failed": state.failed_recently,
            "window": self.config.window,
            "error": state.last_error or "",
        }
        state.open = self._event(source, frame, "start", extra)
        state.opened_at, state.failed_while_open = self._clock(), 0
        log.error(
            "%s: %s (%d of the last %d inferences failed)",
            source,
            EVENT_TYPE,
            extra["failed"],
            self.config.window,
        )
        self._emit(state.open)

    def _clear(self, source: str, state: _Source, start: Event, frame: int) -> None:
        extra = {
            "model": self.model,
            "start_id": start.id,
            "duration_s": duration(state.opened_at, self._clock()),
            "failed": state.failed_while_open,
        }
        state.open = None
        log.info("%s: %s ended (a whole window inferred)", source, EVENT_TYPE)
        self._emit(self._event(source, frame, "end", extra))

    @staticmethod
    def _event(source: str, frame: int, phase: Literal["start", "end"], extra: dict[str, Any]) -> Event:
        # critical: the source is blind to the model, no detection of it reaches anyone
        return health_event(
            source, EVENT_TYPE, EVENT_TYPE, phase, extra, kind="inference", severity="critical", frame=frame
        )

    @property
    def failing(self) -> list[str]:
        """The sources whose ``inference_failing`` event is open."""
        with self._lock:
            return sorted(name for name, state in self._sources.items() if state.open is not None)

    def state(self) -> dict[str, dict[str, Any]]:
        """For /status and /metrics: per source, its counts, the last error and whether it is failing."""
        with self._lock:
            return {
                name: {
                    "failures": state.failures,
                    "inferred": state.inferred,
                    "recent_failures": state.failed_recently,
                    "failing": state.open is not None,
                    "since": state.open.ts if state.open is not None else None,
                    "last_error": state.last_error,
                    "last_failure_ts": state.last_failure_ts,
                    "errors": dict(state.errors),
                }
                for name, state in self._sources.items()
            }


def _push(state: _Source, failed: bool) -> None:
    if len(state.recent) == state.recent.maxlen:
        state.failed_recently -= state.recent[0]  # about to fall out of the window
    state.recent.append(failed)
    state.failed_recently += failed
