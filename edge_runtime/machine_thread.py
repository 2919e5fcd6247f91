"""A monitored machine's own thread in the daemon: its samples -> its ``SignalMonitor``, until the end.

The thread must never stop watching while the daemon runs (a machine nobody watches looks quiet, not
broken). A file ends the machine; a stream that drops or fails is reopened with back-off (a sensor
gateway restarting). Anything else that raises while a chunk of samples goes through the rules and into
the outbox (a bug, a sink that refuses) is caught at the loop's edge, as the cameras' delivery and
post-processing errors are: the rest of that chunk is skipped, the error is counted (``errors`` in
/status, ``adit_machine_errors_total``), shown as the machine's ``error`` (/healthz red) until a chunk
goes through again, logged with its traceback and then at most once per ``log_every_s``, and the thread
goes on with the next chunk.
"""

from __future__ import annotations

import logging
import threading

from edge_runtime.backoff import Backoff
from edge_runtime.signal import SignalError
from edge_runtime.signal_monitor import SignalMonitor
from edge_runtime.signal_source import open_samples
from edge_runtime.sparse_log import SparseLog, error_text

log = logging.getLogger(__name__)


class MachineThread(threading.Thread):
    """Feeds one machine's samples to its monitor until the source ends or ``stop`` is set."""

    def __init__(
        self, monitor: SignalMonitor, stop: threading.Event, wake: threading.Event, log_every_s: float = 60.0
    ) -> None:
        """``wake``: set when the thread ends, so the daemon's loop notices; ``log_every_s``: at most one
        line this often while errors go on (the first with its traceback)."""
        super().__init__(name=f"machine-{monitor.config.name}", daemon=True)
        self.monitor, self.stop, self.wake = monitor, stop, wake
        self._errors = SparseLog(log, monitor.config.name, log_every_s)

    def run(self) -> None:
        config, monitor = self.monitor.config, self.monitor
        backoff = Backoff(config.reconnect.min_s, config.reconnect.max_s)
        try:
            while not self.stop.is_set():
                try:
                    for chunk in open_samples(config.source, monitor.spec, realtime=config.realtime):
                        windows = monitor.windows
                        try:
                            monitor.process(chunk)
                        except Exception as exc:  # noqa: BLE001 - the loop's edge: watching goes on
                            self._failed(exc, "a chunk's rules or delivery failed (watching on)")
                            continue
                        if monitor.windows > windows:  # a chunk without a whole window proves nothing
                            monitor.error = None
                            self._errors.recovered("a chunk went through again (%d error(s) unlogged)")
                        backoff.reset()
                        if self.stop.is_set():
                            return
                except (SignalError, OSError) as exc:  # the source: a bad file, a dropped stream
                    monitor.error = str(exc)
                    log.error("%s: %s", config.name, exc)
                except Exception as exc:  # noqa: BLE001 - reading the source failed unexpectedly: as above
                    self._failed(exc, "reading the source failed")
                if not config.source.startswith("tcp://"):
                    return
                self.stop.wait(backoff.next())
                monitor.restart()
        finally:
            self.wake.set()  # the daemon's loop notices that this machine has ended

    def finish(self) -> None:
        """End the machine's open events once the thread has stopped (the daemon stops, the source ended)."""
        try:
            self.monitor.finish()
        except Exception as exc:  # noqa: BLE001 - one machine's end events must not stop the daemon's drain
            self._failed(exc, "ending the open events failed")

    def _failed(self, error: Exception, what: str) -> None:
        monitor = self.monitor
        monitor.errors += 1
        monitor.error = monitor.last_error = error_text(error)
        self._errors.failed(error, what, "%d more error(s) in %.0f s, the last: %s")
