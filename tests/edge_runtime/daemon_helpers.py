"""Helpers shared by the daemon's process-level tests (a module, not fixtures: plain functions)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import onnx
import yaml
from onnx import numpy_helper

from edge_runtime.bundle import Artifact, file_digest, load_bundle, write_manifest


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

    def stdout_at_exit(self, process: subprocess.Popen, timeout_s: float) -> str:
        """Wait for the child and return its stdout; ``communicate`` would also read stderr, racing
        this reader for the last log lines."""
        process.wait(timeout=timeout_s)
        return process.stdout.read()


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


def serve_samples_once(samples) -> int:
    """A sensor gateway on a free port: one connection, all samples as little-endian float32, then close."""
    server = socket.create_server(("127.0.0.1", 0))

    def send() -> None:
        conn, _ = server.accept()
        with conn:
            conn.sendall(samples.astype("<f4").tobytes())
        server.close()

    threading.Thread(target=send, daemon=True).start()
    return server.getsockname()[1]


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


class _Collector(BaseHTTPRequestHandler):
    """A webhook that records the id of every event posted to it."""

    def do_POST(self) -> None:
        self.server.ids.append(json.loads(self.rfile.read(int(self.headers["Content-Length"])))["id"])
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_args) -> None:
        pass


def finish_into_webhook(site, repo) -> list[str]:
    """Run the daemon once more on ``site`` to the end of its file, delivering to a collecting webhook.

    What the earlier (killed) runs left in the outbox is delivered first; returns every id received, in order.
    """
    collector = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    collector.ids = []
    threading.Thread(target=collector.serve_forever, daemon=True).start()

    def to_the_end(data):
        data["cameras"][0].update(loop=False, realtime=False)
        data["sinks"]["webhook"]["url"] = f"http://127.0.0.1:{collector.server_address[1]}/events"

    try:
        edit_site(site, to_the_end)
        process = spawn_daemon(site, repo)
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    finally:
        collector.shutdown()
        collector.server_close()
    return collector.ids


def post_json(url: str, body: object) -> tuple[int, dict]:
    """POST ``body`` as JSON; the status and the decoded JSON answer (errors included)."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def wait_for_value(predicate, timeout_s: float = 30.0):
    """The predicate's first truthy value, polled every 0.2 s; AssertionError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def swapped_bundle(tiny: Path, root: Path, classes: list[str] | None = None) -> Path:
    """The tiny colour classifier with red and blue swapped: a candidate that disagrees on both
    (``classes``: other class names, a candidate that cannot serve the site's rules)."""
    model = onnx.load(tiny / "model.onnx")
    weight = next(init for init in model.graph.initializer if init.name == "weight")
    swapped = numpy_helper.to_array(weight)[[2, 1, 0]]
    weight.CopyFrom(numpy_helper.from_array(swapped, "weight"))
    root.mkdir(parents=True)
    onnx.save(model, root / "model.onnx")
    manifest = load_bundle(tiny).manifest
    artifact = Artifact(
        **file_digest(root / "model.onnx", root).model_dump(), format="onnx", precision="fp32"
    )
    write_manifest(
        root,
        manifest.model_copy(
            update={
                "name": "tiny-swapped",
                "version": "0.2.0",
                "artifacts": [artifact],
                "classes": classes or manifest.classes,
            }
        ),
    )
    return root
