"""Helpers of the fleet tests (plain functions): signed bundle variants, device sites, a tiny slow video."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from edge_runtime.bundle import MANIFEST_NAME
from edge_runtime.events import utc_iso
from edge_runtime.fleet import cli as fleet_cli
from edge_runtime.fleet.messages import DesiredBundle
from edge_runtime.fleet.view import Broker
from edge_runtime.signing import load_private_key, manifest_digest, sign_bundle


def bundle_variant(
    tiny: Path, out: Path, version: str, *, key: Path | None, classes: list[str] | None = None
) -> Path:
    """A copy of the tiny bundle with another version (and class names), signed with ``key`` if given."""
    root = Path(shutil.copytree(tiny, out))
    manifest = json.loads((root / MANIFEST_NAME).read_text())
    manifest["version"] = version
    if classes is not None:
        manifest["classes"] = classes
    (root / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
    if key is not None:
        sign_bundle(root, load_private_key(key), key.stem)
    return root


def pack(root: Path) -> Path:
    """``root`` as ``root.tar.gz`` (what an HTTP server ships)."""
    archive = root.with_name(root.name + ".tar.gz")
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root, arcname=root.name)
    return archive


def bundle_id(root: Path) -> str:
    return manifest_digest(root)


def slow_video(path: Path, fps: float = 4.0, frames: int = 8) -> Path:
    """A few red frames at a low rate: the lightest source a looping, real-time camera can have."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (32, 24))
    for _ in range(frames):
        writer.write(np.full((24, 32, 3), (0, 0, 255), dtype=np.uint8))
    writer.release()
    return path


def device_site(
    folder: Path,
    device: str,
    *,
    bundle: Path,
    video: Path,
    public_key: Path,
    port: int,
    group: str = "conveyors",
    labels: tuple[str, ...] = ("red",),
    window_s: float = 30.0,
) -> Path:
    """One device's site YAML: a looping camera, one rule, MQTT to the broker, the fleet section."""
    folder.mkdir(parents=True, exist_ok=True)
    site = {
        "model": {"bundle": str(bundle), "threads": 1},
        "cameras": [
            {
                "name": "cam",
                "source": str(video),
                "loop": True,
                "realtime": True,
                "health": {"enabled": False},
            }
        ],
        "rules": [{"name": "watch", "labels": list(labels), "min_score": 0.6}],
        "sinks": {"jsonl": None, "mqtt": {"port": port, "client_id": device, "state": None}},
        "outbox": {"path": str(folder / "outbox.sqlite")},
        "http": {"enabled": False},
        "trust": {"keys": [{"name": public_key.stem, "public_key": str(public_key)}]},
        "fleet": {
            "group": group,
            "store": str(folder / "store"),
            "health": {"window_s": window_s, "min_frames": 2},
            "fetch": {"retry_min_s": 0.5, "retry_max_s": 2.0, "timeout_s": 10.0},
        },
    }
    path = folder / "site.yaml"
    path.write_text(yaml.safe_dump(site, sort_keys=False), encoding="utf-8")
    return path


class RangeServer:
    """A real HTTP server for one file that honours Range, and can cut a transfer after N bytes."""

    def __init__(self, data: bytes, *, ranges: bool = True) -> None:
        self.data, self.requests, self.lock = data, [], threading.Lock()
        self.cuts: dict[int, int] = {}  # request number (from 0) -> bytes sent before the connection drops
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                header = self.headers.get("Range")
                with server.lock:  # requests come in on several threads at once
                    number = len(server.requests)
                    server.requests.append(header)
                start = int(re.match(r"bytes=(\d+)-", header).group(1)) if header and ranges else 0
                body = server.data[start:]
                self.send_response(206 if start else 200)
                if start:
                    self.send_header(
                        "Content-Range", f"bytes {start}-{len(server.data) - 1}/{len(server.data)}"
                    )
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                cut = server.cuts.get(number)
                if cut is not None:
                    body = body[:cut]  # then the connection drops
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/bundle.tar.gz"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class Devices:
    """Edge daemons as real child processes (``python -m edge_runtime run``), one folder and log each."""

    def __init__(self, root: Path, repo: Path, **site: Any) -> None:
        self.root, self.repo, self.site = root, repo, site
        self.processes: dict[str, subprocess.Popen] = {}

    def folder(self, name: str) -> Path:
        return self.root / name

    def start(self, name: str, **site: Any) -> subprocess.Popen:
        """Start (or start again) device ``name``; its site is written the first time."""
        path = self.folder(name) / "site.yaml"
        if not path.exists():
            device_site(self.folder(name), name, **(self.site | site))
        log = (self.folder(name) / "daemon.log").open("a")
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "edge_runtime", "run", "--config", str(path)],
            cwd=self.repo,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(self.repo), "OMP_NUM_THREADS": "1"},
        )
        log.close()
        return self.processes[name]

    def kill(self, name: str) -> None:
        """SIGKILL: a box losing power (the broker publishes its last will)."""
        process = self.processes.pop(name)
        process.kill()
        process.wait(30)

    def log(self, name: str) -> str:
        return (self.folder(name) / "daemon.log").read_text(errors="replace")

    def close(self) -> dict[str, int]:
        """SIGTERM every daemon, then wait for each; their exit codes."""
        for process in self.processes.values():
            process.send_signal(signal.SIGTERM)
        codes = {}
        for name, process in self.processes.items():
            try:
                codes[name] = process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                codes[name] = process.wait(10)
        self.processes.clear()
        return codes


def on_bundle(view: Any, devices: list[str], bundle: str, health: str = "healthy") -> Callable[[], bool]:
    """A ``FleetView.wait`` condition: every device online, running ``bundle`` (an id) with ``health``."""

    def holds() -> bool:
        rows = {row.device: row for row in view.rows()}
        return all(
            name in rows
            and rows[name].online
            and rows[name].message is not None
            and rows[name].message.bundle is not None
            and rows[name].message.bundle.id == bundle
            and rows[name].message.health == health
            for name in devices
        )

    return holds


class CuttableLink:
    """A TCP forwarder between one device and the broker: ``cut()`` is the roadway's network going
    down (open connections dropped, new ones closed at once), ``restore()`` brings it back."""

    def __init__(self, broker_port: int) -> None:
        self.broker_port, self.up = broker_port, True
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            self.up = False
            for conn in self._open:
                _drop(conn)  # shutdown wakes the pump blocked in recv(); close alone would not
            self._open.clear()

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self.cut()
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.broker_port))
            with self._lock:
                self._open += [client, upstream]
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, target), daemon=True).start()


def _pump(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        _drop(source)
        _drop(target)


def _drop(conn: socket.socket) -> None:
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    conn.close()


def tampered(signed: Path, out: Path) -> DesiredBundle:
    """A copy of a signed bundle whose manifest was changed after signing, asked for as rollout r-evil."""
    root = bundle_variant(signed, out, "3.0.0", key=None)  # keeps the original's signature.json
    manifest = json.loads((root / MANIFEST_NAME).read_text())
    (root / MANIFEST_NAME).write_text(json.dumps(manifest | {"version": "6.6.6"}, indent=2) + "\n")
    return DesiredBundle(
        rollout="r-evil",
        bundle_id=bundle_id(root),
        name="tiny-colour",
        version="6.6.6",
        url=str(root),
        published=utc_iso(time.time()),
    )


def roll_out(bundle: str, port: int, canary: str, said: list[str]) -> int:
    """``fleet rollout BUNDLE --to conveyors --canary C --hold 3 --timeout 120``; its output in ``said``."""
    return fleet_cli.rollout(
        bundle, "conveyors", Broker(port=port), canary=canary, hold_s=3.0, timeout_s=120.0, say=said.append
    )
