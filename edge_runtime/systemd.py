"""systemd's notify protocol (``sd_notify``) without a dependency: one datagram to ``$NOTIFY_SOCKET``.

``READY=1`` once the cameras are open and the model loaded, so ``systemctl start`` returns only
then; ``WATCHDOG=1`` from the inference loop itself at half the ``WatchdogSec`` interval, so a loop
that hangs (a stuck runtime, a deadlock) gets the daemon restarted; ``STOPPING=1`` when draining.
Outside systemd (no ``NOTIFY_SOCKET``) every call is a no-op.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)


class SystemdNotifier:
    def __init__(self, socket_path: str | None, watchdog_usec: int | None = None) -> None:
        # "@name" is an abstract socket: the leading "@" stands for a NUL byte
        self._address = (
            None if not socket_path else "\0" + socket_path[1:] if socket_path[0] == "@" else socket_path
        )
        self.watchdog_interval_s = watchdog_usec / 1e6 / 2 if watchdog_usec else None
        self._last_watchdog = float("-inf")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> SystemdNotifier:
        usec = environ.get("WATCHDOG_USEC", "")
        pid = environ.get("WATCHDOG_PID", "")
        # the watchdog is meant for this process only (not for children it may start)
        mine = usec.isdigit() and (not pid or pid == str(os.getpid()))
        return cls(environ.get("NOTIFY_SOCKET"), int(usec) if mine else None)

    def ready(self) -> None:
        self.notify("READY=1")

    def stopping(self) -> None:
        self.notify("STOPPING=1")

    def watchdog(self) -> None:
        """Pet the watchdog, at most every half interval (call it as often as convenient)."""
        if self.watchdog_interval_s is None:
            return
        now = time.monotonic()
        if now - self._last_watchdog >= self.watchdog_interval_s:
            self._last_watchdog = now
            self.notify("WATCHDOG=1")

    def notify(self, message: str) -> None:
        if self._address is None:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(message.encode(), self._address)
        except OSError as exc:  # never let the supervisor's socket take the daemon down
            log.warning("sd_notify %s failed: %s", message, exc)
