"""Helpers shared by the daemon's process-level tests (a module, not fixtures: plain functions)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import yaml


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


def spawn_daemon(site, repo, **env: str) -> subprocess.Popen:
    """``python -m edge_runtime run --config SITE`` as a child, with stdout and stderr piped."""
    return subprocess.Popen(
        [sys.executable, "-m", "edge_runtime", "run", "--config", str(site)],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(repo), **env},
    )


def http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def edit_site(site, change) -> None:
    data = yaml.safe_load(site.read_text())
    change(data)
    site.write_text(yaml.safe_dump(data))


def wait_until(condition, timeout_s: float = 30.0, every_s: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(every_s)
    return bool(condition())
