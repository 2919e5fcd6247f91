"""The newest frame the model ran on, with its prediction, per camera: what the live view draws.

The inference stage only swaps a reference here (no copy, no drawing, no encoding), so a viewer
costs the pipeline nothing; the web thread that serves a viewer does the drawing and JPEG encoding.
Frames are never written to after capture, so sharing the reference is safe.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from edge_runtime.postprocess import Prediction
from edge_runtime.sources import Frame


@dataclass(frozen=True)
class Seen:
    frame: Frame
    prediction: Prediction


class LatestFrames:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, Seen] = {}

    def publish(self, frame: Frame, prediction: Prediction) -> None:
        with self._lock:
            self._seen[frame.camera] = Seen(frame, prediction)

    def get(self, camera: str) -> Seen | None:
        with self._lock:
            return self._seen.get(camera)
