"""The HTTP endpoint on its own thread: uvicorn serving the dashboard app; ``close`` stops it.

The socket is bound here, before the thread starts, so a taken port or a wrong address is a
ConfigError at start-up rather than a log line from a thread nobody watches.
"""

from __future__ import annotations

import logging
import socket
import threading
import time

import uvicorn

from edge_runtime.config.daemon import HttpConfig
from edge_runtime.errors import ConfigError
from edge_runtime.observe import DaemonView
from edge_runtime.web.app import build_app

log = logging.getLogger(__name__)

START_TIMEOUT_S = 10.0
GRACE_S = 2.0  # open live streams get this long to end when the daemon stops


class WebServer:
    def __init__(self, config: HttpConfig, view: DaemonView) -> None:
        self._closing = threading.Event()
        family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind((config.host, config.port))
        except OSError as exc:
            self._socket.close()
            raise ConfigError(f"http: cannot listen on {config.host}:{config.port} ({exc.strerror})") from exc
        self._socket.listen(64)
        self.port = self._socket.getsockname()[1]
        self._app = build_app(view, self._closing)
        settings = uvicorn.Config(
            self._app,
            log_config=None,  # the daemon's logging setup stays in charge
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=GRACE_S,
        )
        self._server = uvicorn.Server(settings)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="http", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        if not self._server.started:
            self.close()
            raise ConfigError(f"http: the server on {config.host}:{self.port} did not start")
        shown = f"[{config.host}]" if family == socket.AF_INET6 else config.host
        log.info("dashboard on http://%s:%d/ (also /healthz /metrics /status)", shown, self.port)

    def close(self) -> None:
        self._closing.set()
        self._server.should_exit = True
        self._thread.join(GRACE_S + 5.0)
        self._socket.close()
        self._app.state.dashboard.acks.close()
