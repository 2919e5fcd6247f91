"""JPEGs of the latest frames for viewers, encoded on the web side at a bounded rate.

However many viewers watch a camera, each of its frames is drawn and encoded at most once, and
no more often than ``live_fps``: a room full of tablets costs the device the same as one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2

from edge_runtime.config.belt import BeltLoadConfig
from edge_runtime.config.daemon import HttpConfig
from edge_runtime.config.rules import RuleConfig
from edge_runtime.live import LatestFrames
from edge_runtime.web.annotate import BeltOverlay, annotate, classes_of_interest

JPEG_QUALITY = 80


@dataclass(frozen=True)
class Jpeg:
    index: int  # the frame's number in its source
    ts: float  # its capture time
    data: bytes


class JpegCache:
    def __init__(
        self,
        live: LatestFrames,
        rules: Sequence[RuleConfig],
        config: HttpConfig,
        belt: BeltLoadConfig | None = None,
        belt_states: Callable[[], dict[str, dict[str, object]]] = dict,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.live = live
        self._clock = clock
        self.rules = list(rules)
        self.belt = belt
        self.belt_states = belt_states
        self.width = config.live_width
        self.interval_s = 1.0 / config.live_fps
        self.encoded = 0  # how many JPEGs were made, for the benchmark and tests
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, bool], tuple[float, Jpeg]] = {}

    def get(self, camera: str, *, annotated: bool = True) -> Jpeg | None:
        """The newest frame of ``camera`` as JPEG, or None before the model has seen any."""
        key = (camera, annotated)
        with self._lock:  # one encoder at a time: bounded CPU, and viewers share the result
            now = self._clock()
            cached = self._cache.get(key)
            if cached is not None and now - cached[0] < self.interval_s:
                return cached[1]
            seen = self.live.get(camera)
            if seen is None:
                return None
            if cached is not None and cached[1].index == seen.frame.index:
                return cached[1]
            interest = classes_of_interest(self.rules, camera, self.belt)
            image = (
                annotate(seen, self.rules, self.width, self._belt(camera), interest)
                if annotated
                else seen.frame.image
            )
            ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            if not ok:
                return None
            self.encoded += 1
            jpeg = Jpeg(seen.frame.index, seen.frame.ts, data.tobytes())
            self._cache[key] = (now, jpeg)
            return jpeg

    def _belt(self, camera: str) -> BeltOverlay | None:
        if self.belt is None or not self.belt.watches(camera):
            return None
        return BeltOverlay(self.belt.region, self.belt_states().get(camera))
