"""The edge runtime's fixtures: a site for the tiny colour bundle and video; a real Mosquitto broker; a
running daemon with its dashboard."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import yaml
from daemon_helpers import free_port

from edge_runtime.config import SiteConfig, load_site_config
from edge_runtime.pipeline import run
from edge_runtime.startup import SiteBundles

MOSQUITTO = shutil.which("mosquitto") or next(
    (path for path in ("/usr/sbin/mosquitto",) if Path(path).is_file()), None
)


def write_site(path: Path, bundle: Path, video: Path, events: Path, **model: object) -> Path:
    site = {
        "model": {"bundle": str(bundle), **model},
        # solid colours are flat and still: health would rightly call the lens obscured (test_health.py)
        "cameras": [{"name": "cam1", "source": str(video), "health": {"enabled": False}}],
        "rules": [
            {
                "name": "red-rule",
                "labels": ["red"],
                "min_score": 0.6,
                "debounce": {"hits": 3, "window": 5},
                "cooldown_s": 2.0,
                "event_type": "red_seen",
                "severity": "critical",
            },
            {
                "name": "blue-rule",
                "camera": "cam1",
                "labels": ["blue"],
                "min_score": 0.6,
                "debounce": {"hits": 3, "window": 5},
                "cooldown_s": 2.0,
                "event_type": "blue_seen",
            },
        ],
        "sinks": {"jsonl": {"path": str(events)}},
        "outbox": {"path": str(events.parent / "outbox.sqlite")},
        "http": {"port": 0},
    }
    path.write_text(yaml.safe_dump(site, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def colour_site(tmp_path: Path, tiny_bundle: Path, colour_video) -> Path:
    return write_site(
        tmp_path / "site.yaml", tiny_bundle, colour_video.path, tmp_path / "events" / "events.jsonl"
    )


class Mosquitto:
    """A real broker as a child process, with persistence, that a test can stop and start again."""

    def __init__(
        self, root: Path, *, persistence: bool = True, port: int | None = None, settings: tuple[str, ...] = ()
    ) -> None:
        self.port = port or free_port()
        self.root = root
        (root / "data").mkdir(parents=True, exist_ok=True)
        self.config = root / "mosquitto.conf"
        # settings: the listener's TLS and password lines (test_mqtt_tls.py); else anonymous
        lines = [f"listener {self.port} 127.0.0.1", *(settings or ("allow_anonymous true",))]
        if persistence:
            lines += [
                "persistence true",
                f"persistence_location {root / 'data'}/",
                "autosave_interval 1",  # sessions survive even a SIGKILL (REAL-PARTS.md)
            ]
        if os.geteuid() == 0:
            lines.append("user root")  # else it drops to `mosquitto` and cannot write the tmp folder
        self.config.write_text("\n".join(lines) + "\n")
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not listen on {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None

    def kill(self) -> None:
        """SIGKILL: no goodbye to clients, nothing saved that was not saved already."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None


@pytest.fixture
def model_loads(monkeypatch) -> list[str]:
    """The model files every backend compiles from now on, one entry per compilation."""
    from edge_runtime.backends.onnxruntime_backend import OnnxRuntimeBackend
    from edge_runtime.backends.openvino_backend import OpenVinoBackend

    loads: list[str] = []
    for backend in (OpenVinoBackend, OnnxRuntimeBackend):
        original = backend.load

        def counted(self, original=original) -> None:
            loads.append(str(self.model_path))
            original(self)

        monkeypatch.setattr(backend, "load", counted)
    return loads


@pytest.fixture
def mosquitto(tmp_path: Path):
    if MOSQUITTO is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    yield broker
    broker.stop()


class Subscriber:
    """A persistent-session QoS 1 subscriber that re-subscribes on every connect and keeps all messages."""

    def __init__(self, port: int, topic: str, client_id: str = "test-sub") -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
        self.client.on_connect = lambda client, *_: client.subscribe(topic, qos=1)
        self.client.on_message = lambda _c, _u, msg: self.messages.append(
            (msg.topic, msg.payload, msg.retain)
        )
        self.client.reconnect_delay_set(min_delay=1, max_delay=2)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def subscriber(mosquitto):
    client = Subscriber(mosquitto.port, "adit/#")
    yield client
    client.close()


SYSTEM_PYTHON = Path("/usr/bin/python3")
RTSP_SERVER = Path(__file__).with_name("rtsp_server.py")


def _has_rtsp_server() -> bool:
    if not SYSTEM_PYTHON.is_file():
        return False
    probe = subprocess.run(
        [str(SYSTEM_PYTHON), "-c", "import gi; gi.require_version('GstRtspServer', '1.0')"],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


class RtspServer:
    """GStreamer's RTSP server as a child process serving a generated picture; kill and restart at will."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"rtsp://127.0.0.1:{self.port}/cam"
        self.process: subprocess.Popen | None = None

    def start(self, width: int = 320, height: int = 240) -> None:
        self.process = subprocess.Popen(
            [str(SYSTEM_PYTHON), str(RTSP_SERVER), str(self.port), str(width), str(height)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        line = self.process.stdout.readline()
        if line.strip() != "READY":
            raise RuntimeError(f"RTSP server did not start on {self.port}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None


@pytest.fixture
def rtsp_server():
    if not _has_rtsp_server():
        pytest.skip("GStreamer RTSP server not installed (python3-gi, gir1.2-gst-rtsp-server-1.0)")
    server = RtspServer()
    server.start()
    yield server
    server.kill()


class RunningDaemon:
    """``pipeline.run`` on a thread (the whole daemon but the signal handling), stopped at teardown."""

    def __init__(self, config: SiteConfig, site: Path, verified: SiteBundles | None = None) -> None:
        """``verified``: ``verify_daemon(config)`` done by the test (to reach into the compiled model)."""
        self.config = config
        self.site = site
        self.url = f"http://127.0.0.1:{config.http.port}"
        self.stop = threading.Event()
        self.error: BaseException | None = None

        def main() -> None:
            try:
                run(config, self.stop, verified=verified)
            except BaseException as exc:  # noqa: BLE001 (raised again by close)
                self.error = exc

        self._thread = threading.Thread(target=main, name="daemon-under-test", daemon=True)
        self._thread.start()

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Until the HTTP endpoint answers and the model has seen a frame of the first camera."""
        camera = self.config.cameras[0].name
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.error is None:
            request = urllib.request.Request(f"{self.url}/api/cameras/{camera}/frame.jpg")
            token = self.config.http.token
            if token is not None:
                request.add_header("Authorization", f"Bearer {token.get_secret_value()}")
            try:
                with urllib.request.urlopen(request, timeout=5):
                    return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        raise RuntimeError(f"the daemon did not become ready: {self.error!r}")

    def close(self) -> None:
        self.stop.set()
        self._thread.join(30)
        assert not self._thread.is_alive(), "the daemon did not stop"
        if self.error is not None:
            raise self.error


@pytest.fixture
def start_daemon(tmp_path: Path, tiny_bundle: Path, colour_video):
    """Start the real daemon on the looping colour video, live paced, with snapshots and the dashboard."""
    started: list[RunningDaemon] = []

    def start(
        extra_cameras: tuple[dict, ...] = (), site_loop: dict | None = None, **http: object
    ) -> RunningDaemon:
        site = write_site(
            tmp_path / "site.yaml", tiny_bundle, colour_video.path, tmp_path / "events" / "events.jsonl"
        )
        data = yaml.safe_load(site.read_text())
        data["cameras"][0].update(loop=True, realtime=True)
        data["cameras"] += list(extra_cameras)
        data["snapshots"] = {"enabled": True, "folder": str(tmp_path / "snapshots")}
        data["http"] = {"port": free_port(), "benchmark": str(tmp_path / "no-bench" / "results.json"), **http}
        if site_loop is not None:
            data["site_loop"] = site_loop
        site.write_text(yaml.safe_dump(data, sort_keys=False))
        daemon = RunningDaemon(load_site_config(site), site)
        started.append(daemon)
        daemon.wait_ready()
        return daemon

    yield start
    for daemon in started:
        daemon.close()


class SmallVolume:
    """A real tmpfs of a few hundred KiB that a test fills to ENOSPC and then frees again."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.filler = path / "filler.bin"

    def fill(self) -> None:
        """Write zeros until the kernel answers ENOSPC: the volume is then full for real."""
        with self.filler.open("ab", buffering=0) as handle:
            try:
                while True:
                    handle.write(b"\0" * 4096)
            except OSError:
                pass

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)


@pytest.fixture
def small_volume(tmp_path: Path):
    """Mounting needs root (CAP_SYS_ADMIN); elsewhere the disk-full tests skip with that reason."""
    path = tmp_path / "volume"
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs (needs root): {mounted.stderr.strip()}")
    try:
        yield SmallVolume(path)
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)
