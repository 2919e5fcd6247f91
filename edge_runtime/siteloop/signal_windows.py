"""The sample windows behind machine events, and the operator's feedback on them as few-shot data.

A camera event keeps its frame (``captures``); a machine event keeps the window of samples that
started it, as ``<event id>.npy`` in the folder (the frame the model classified: samples, then the
rpm for bundles in shaft orders) with a line in ``index.jsonl``. The dashboard's feedback on the
event ("false alarm", "confirmed", "this is class X") then labels that window, and
``python -m edge_runtime.siteloop signal-export`` writes the labelled windows as one ``.npz`` that
``train`` takes as its few-shot training windows (``data.feedback``).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_runtime.errors import ConfigError
from edge_runtime.events import Event
from edge_runtime.web.acks import Feedback

INDEX = "index.jsonl"


class EventWindows:
    """Keeps the window of each machine event's start (a few per incident: never rate limited)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def keep(self, event: Event, frame: np.ndarray, window: int) -> None:
        """``frame``: the window's samples, then its rpm when the bundle takes one (``window`` samples)."""
        if event.phase != "start":
            return
        rpm = float(frame[window]) if len(frame) > window else None
        np.save(self.folder / f"{event.id}.npy", np.asarray(frame[:window], np.float32))
        line = {"event_id": event.id, "machine": event.camera, "label": event.label, "pts_s": event.pts_s,
                "rpm": rpm}  # fmt: skip
        with self._lock, (self.folder / INDEX).open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(line) + "\n")


@dataclass(frozen=True)
class LabelledWindows:
    x: np.ndarray  # (N, window) float32
    rpm: np.ndarray  # (N,) float64, NaN where the bundle took none
    labels: list[str]
    event_ids: list[str]


def feedback_label(feedback: Feedback, normal_label: str | None) -> str | None:
    """The class the operator says the window is: relabel's class, the event's on confirmation, the
    normal class on a false alarm (None: no normal class given, the window is left out)."""
    if feedback.verdict == "relabel":
        return feedback.label
    if feedback.verdict == "confirmed":
        return feedback.event_label
    return normal_label


def labelled_windows(
    folder: Path, feedback: dict[str, Feedback], classes: list[str], normal_label: str | None
) -> LabelledWindows:
    """Every kept window with operator feedback, labelled by it; refuses a label not in ``classes``."""
    index = folder / INDEX
    if not index.is_file():
        raise ConfigError(f"{folder}: no {INDEX}; is this a machine's event-window folder?")
    if normal_label is not None and normal_label not in classes:
        known = ", ".join(classes)
        raise ConfigError(f"--normal-label {normal_label!r} is not a class of the bundle ({known})")
    x, rpm, labels, ids = [], [], [], []
    for line in index.read_text(encoding="utf-8").splitlines():
        kept = json.loads(line)
        given = feedback.get(kept["event_id"])
        label = feedback_label(given, normal_label) if given is not None else None
        if label is None:
            continue
        if label not in classes:
            raise ConfigError(f"feedback on event {kept['event_id']}: {label!r} is not a class of the bundle")
        x.append(np.load(folder / f"{kept['event_id']}.npy", allow_pickle=False))
        rpm.append(np.nan if kept["rpm"] is None else kept["rpm"])
        labels.append(label)
        ids.append(kept["event_id"])
    if not x:
        raise ConfigError(f"{folder}: no kept window has operator feedback; nothing to export")
    return LabelledWindows(np.stack(x), np.array(rpm, np.float64), labels, ids)


def write_npz(windows: LabelledWindows, out: Path) -> Path:
    """One ``.npz`` (x, rpm, labels, event_ids): ``train``'s ``data.feedback`` reads it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, x=windows.x, rpm=windows.rpm, labels=np.array(windows.labels),
             event_ids=np.array(windows.event_ids))  # fmt: skip
    return out
