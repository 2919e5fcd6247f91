"""A stage that hangs: it is named stalled after ``stall_s``, /healthz turns red, and systemd's
watchdog stops being petted (so systemd would restart the daemon)."""

from __future__ import annotations

import json
import socket
import threading
import time

from daemon_helpers import edit_site, free_port, http_get, wait_until

from edge_runtime.config import load_site_config
from edge_runtime.liveness import Liveness
from edge_runtime.model import BundleModel
from edge_runtime.pipeline import run
from edge_runtime.systemd import SystemdNotifier


def test_a_stage_busy_past_its_limit_is_stalled_until_it_returns():
    now = [10.0]
    liveness = Liveness(stall_s=3.0, clock=lambda: now[0])
    with liveness.busy("sink:mqtt"):
        now[0] += 3.0
        assert liveness.stalled() == {}  # at the limit, not past it
        now[0] += 2.0
        assert liveness.stalled() == {"sink:mqtt": 5.0}
    assert liveness.stalled() == {}


def test_hung_inference_turns_health_red_and_starves_the_watchdog(colour_site, tmp_path, monkeypatch):
    """The model's ``start`` (where the pipeline hands it frames) is made to hang (the injected
    fault); the bundle, video, pipeline, HTTP endpoint and notify socket are real."""
    port, hang, entered = free_port(), threading.Event(), threading.Event()
    real_start = BundleModel.start

    def hanging_start(self, batch, done, failed):
        entered.set()
        hang.wait(60)
        return real_start(self, batch, done, failed)

    monkeypatch.setattr(BundleModel, "start", hanging_start)

    def live(site):
        site["cameras"][0].update(loop=True, realtime=True)
        site["http"] = {"port": port}
        site["watchdog"] = {"stall_s": 1.0}

    edit_site(colour_site, live)
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.settimeout(0.1)
    stop = threading.Event()
    daemon = threading.Thread(
        target=run,
        args=(load_site_config(colour_site), stop, SystemdNotifier(str(tmp_path / "notify.sock"), 400_000)),
    )
    daemon.start()
    try:
        assert entered.wait(60)
        assert wait_until(
            lambda: "inference" in json.loads(http_get(f"http://127.0.0.1:{port}/healthz")[1])["stalled"]
        )
        assert http_get(f"http://127.0.0.1:{port}/healthz")[0] == 503
        before = []
        while True:  # what was sent before the hang
            try:
                before.append(notify.recv(64).decode())
            except TimeoutError:
                break
        assert "READY=1" in before and "WATCHDOG=1" in before
        time.sleep(1.0)  # five watchdog intervals of 0.2 s
        quiet = []
        while True:
            try:
                quiet.append(notify.recv(64).decode())
            except TimeoutError:
                break
        assert "WATCHDOG=1" not in quiet
    finally:
        hang.set()
        stop.set()
        daemon.join(60)
        notify.close()
    assert not daemon.is_alive()
