"""Helpers shared by the daemon's process-level tests (a module, not fixtures: plain functions)."""

from __future__ import annotations

import socket
import subprocess
import threading
import time


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LogReader:
    """Collects a child's stderr on a thread, so a test can wait for a line without blocking on reads."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=lambda: self.lines.extend(process.stderr), daemon=True)
        self._thread.start()

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout_s: float = 60.0) -> str:
        deadline = time.monotonic() + timeout_s
        while text not in self.text and time.monotonic() < deadline:
            time.sleep(0.1)
        assert text in self.text, self.text
        return self.text

    def rest(self) -> str:
        self._thread.join(20)
        return self.text
