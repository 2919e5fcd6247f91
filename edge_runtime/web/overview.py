"""The overview's figures: each camera's state and recent fps, the sinks, the outbox, the device's load."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any, Literal

from edge_runtime.observe import CameraState, CameraView, DaemonView

FPS_WINDOW_S = 2.0  # fps is measured over at least this long, so one poll's jitter does not show
# the overview's word: the camera's, or the model failing on the frames it delivers
OverviewState = CameraState | Literal["inference_failing"]
# frames arrive (a blind camera's are useless, a failing model's unjudged, but they are the truth)
SIGNAL = ("online", "blind", "inference_failing")


class RateMeter:
    """Frames per second over the last window, from a counter sampled whenever someone asks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._samples: dict[str, tuple[float, int, float]] = {}  # name -> (time, count, fps)

    def rate(self, name: str, count: int, started: float) -> float:
        now = time.monotonic()
        with self._lock:
            last = self._samples.get(name)
            if last is None:  # first look: the average since start
                fps = count / max(now - started, 1e-9)
                self._samples[name] = (now, count, fps)
                return fps
            then, before, fps = last
            if now - then >= FPS_WINDOW_S:
                fps = (count - before) / (now - then)
                self._samples[name] = (now, count, fps)
            return fps


def overview(view: DaemonView, meter: RateMeter) -> dict[str, Any]:
    recent = view.outbox.recent_events()
    last_event: dict[str, Any] = {}
    for _, event in recent:  # oldest first: the last one written wins
        last_event[event.camera] = {
            "ts": event.ts,
            "type": event.type,
            "label": event.label,
            "phase": event.phase,
        }
    return {
        "uptime_s": round(time.monotonic() - view.started, 1),
        "model": {
            "name": view.manifest.name,
            "task": view.manifest.task,
            "artifact": view.artifact,
            "precision": view.runtime_precision,
        },
        "cameras": [_camera(view, camera, meter, last_event.get(camera.name)) for camera in view.cameras],
        "sinks": [
            {"name": name, **state.view(), **view.sink_health(name)}
            for name, state in view.outbox.states.items()
        ],
        "outbox": {
            "depth": view.outbox.depth(),
            "dropped": view.outbox.dropped,
            "dead_letters": view.outbox.dead_letters(10),  # the newest: which event, which sink, why
        },
        "device": device_load(view.config.outbox.path),
    }


def _camera(view: DaemonView, camera: CameraView, meter: RateMeter, last_event: Any) -> dict[str, Any]:
    state = camera.state()
    seen = view.live.get(camera.name)
    conditions = view.conditions(camera, state)
    summary = overview_state(camera.summary_state(), conditions)
    return {
        "name": camera.name,
        "state": summary,
        "signal": summary in SIGNAL,  # else the dashboard shows NO SIGNAL, never the last stale frame
        "conditions": conditions,
        "fps": round(meter.rate(camera.name, state["processed"], view.started), 2),
        "frame": seen.frame.index if seen else None,
        "frame_age_s": round(time.time() - seen.frame.ts, 2) if seen else None,
        "size": list(seen.frame.image.shape[1::-1]) if seen else None,  # width, height
        "captured": state["captured"],
        "processed": state["processed"],
        "dropped": state["dropped"],
        "reconnects": state["reconnects"],
        "last_event": last_event,
        "belt": view.belt_states().get(camera.name),  # load and speed recommendation, with belt_load
    }


def overview_state(summary: CameraState, conditions: list[str]) -> OverviewState:
    """What a technician must act on first: a camera that delivers frames the model fails on raises no
    event at all (``inference_failing`` is critical), so that comes before a blind picture; a camera
    without frames (offline, reconnecting, ended) keeps its own word."""
    if summary in ("online", "blind") and "inference_failing" in conditions:
        return "inference_failing"
    return summary


def device_load(data_path: Path) -> dict[str, Any]:
    """Load average, memory and the free disk where the outbox lives (Linux /proc; None elsewhere)."""
    load1, load5, _ = os.getloadavg()
    memory = _meminfo()
    folder = data_path.parent if data_path.parent.exists() else Path(".")
    disk = shutil.disk_usage(folder)
    return {
        "cpus": os.cpu_count(),
        "load1": round(load1, 2),
        "load5": round(load5, 2),
        "memory_used_pct": (
            round(100 * (1 - memory["MemAvailable"] / memory["MemTotal"]), 1) if memory else None
        ),
        "rss_mb": _rss_mb(),
        "disk_free_gb": round(disk.free / 2**30, 1),
    }


def _meminfo() -> dict[str, int] | None:
    try:
        lines = Path("/proc/meminfo").read_text().splitlines()
    except OSError:
        return None
    return {name: int(rest.split()[0]) for name, rest in (line.split(":", 1) for line in lines)}


def _rss_mb() -> float | None:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except OSError:
        return None
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)
