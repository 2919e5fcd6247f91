"""A candidate bundle in shadow: it sees a sample of the live frames, never raises an alarm.

The inference thread offers each camera's every ``every_n``-th frame with the live prediction; the
shadow thread keeps only the newest (one slot, so it never queues up behind the cameras), runs the
candidate on it, and records whether the two agree and which events each would have raised: the same
rules run twice on the sampled frames, once on the live predictions and once on the candidate's, so
the two counts are comparable. A frame is not offered while the candidate's time (preprocess, infer,
postprocess) exceeds ``cpu_budget`` of the live model's time over the run so far, so the candidate
costs at most that share of the inference work. Disagreements go to ``on_disagree`` (hard examples).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from edge_runtime.backends import BackendOptions
from edge_runtime.bundle import Bundle, Manifest, load_bundle
from edge_runtime.config import SiteConfig, check_rule_labels
from edge_runtime.config.rules import RuleConfig
from edge_runtime.errors import ConfigError
from edge_runtime.events import Event
from edge_runtime.model import BundleModel
from edge_runtime.postprocess import Prediction, Segmentation
from edge_runtime.rules import RuleSet
from edge_runtime.siteloop.config import ShadowConfig
from edge_runtime.siteloop.select import answer
from edge_runtime.sources import Frame
from edge_runtime.timing import Stage, StageTimers

log = logging.getLogger(__name__)

LIVE_STAGES: tuple[Stage, ...] = ("preprocess", "infer", "postprocess")
RECENT = 20  # would-be events kept per side for the dashboard
SEGMENT_AGREE = 0.9  # masks agree when this share of their pixels has the same class

Disagreement = Callable[[Frame, Prediction, Prediction], None]


def check_candidate(site: SiteConfig, config: ShadowConfig, live: Manifest) -> Bundle:
    """The verified candidate bundle; refused unless it serves the live bundle's task and the site's rules."""
    bundle = load_bundle(config.bundle)
    if bundle.manifest.task != live.task:
        raise ConfigError(
            f"site_loop.shadow.bundle: {config.bundle} is {bundle.manifest.task!r}, "
            f"the live bundle {live.task!r}"
        )
    try:
        check_rule_labels(site, bundle.manifest.classes, None)
    except ConfigError as exc:
        raise ConfigError(f"site_loop.shadow.bundle: {config.bundle}: {exc}") from exc
    bundle.artifact(config.artifact)
    return bundle


def load_candidate(site: SiteConfig, config: ShadowConfig, live: Manifest) -> BundleModel:
    """The candidate's model, checked as ``check_candidate`` does."""
    bundle = check_candidate(site, config, live)
    options = BackendOptions(device=site.model.device, threads=config.threads, mode="latency")
    return BundleModel(bundle, config.artifact, options=options)


def agree(live: Prediction, candidate: Prediction) -> bool:
    """Same top class; the same classes seen (boxes); or masks alike on ``SEGMENT_AGREE`` of the pixels."""
    if isinstance(live, Segmentation) and isinstance(candidate, Segmentation):
        if live.mask.shape != candidate.mask.shape:
            return False
        return float(np.mean(live.mask == candidate.mask)) >= SEGMENT_AGREE
    return answer(live) == answer(candidate)


class ShadowRun:
    def __init__(
        self,
        config: ShadowConfig,
        candidate: BundleModel,
        rules: Sequence[RuleConfig],
        live_timers: StageTimers,
        *,
        on_disagree: Disagreement | None = None,
    ) -> None:
        self.config, self.candidate, self.live_timers = config, candidate, live_timers
        self.on_disagree = on_disagree
        self._live_rules, self._candidate_rules = RuleSet(rules), RuleSet(rules)
        self._lock = threading.Lock()
        self._slot: tuple[Frame, Prediction] | None = None
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._offers: Counter[str] = Counter()
        self.offered = self.over_budget = self.replaced = self.compared = self.agreed = 0
        self.spent_ms = 0.0
        self.error: str | None = None
        self.events: dict[str, Counter[str]] = {"live": Counter(), "candidate": Counter()}
        self.recent: dict[str, deque[dict[str, Any]]] = {
            "live": deque(maxlen=RECENT),
            "candidate": deque(maxlen=RECENT),
        }
        self._thread = threading.Thread(target=self._loop, name="shadow", daemon=True)
        self._thread.start()

    def offer(self, frame: Frame, live: Prediction) -> None:
        """Called on the inference thread for every frame; cheap: a counter, a budget check, a swap."""
        self._offers[frame.camera] += 1
        if self._offers[frame.camera] % self.config.every_n:
            return
        with self._lock:
            self.offered += 1
            if self.spent_ms > self.config.cpu_budget * self._live_ms():
                self.over_budget += 1
                return
            if self._slot is not None:
                self.replaced += 1
            self._slot = (frame, live)
        self._ready.set()

    def _live_ms(self) -> float:
        return sum((self.live_timers.histogram(stage)[2] for stage in LIVE_STAGES), 0.0)

    def _loop(self) -> None:
        while not self._stop.is_set():
            if not self._ready.wait(0.2):
                continue
            self._ready.clear()
            with self._lock:
                taken, self._slot = self._slot, None
            if taken is None:
                continue
            try:
                self._compare(*taken)
            except Exception as exc:  # noqa: BLE001 - a failing candidate must never touch the live pipeline
                self.error = str(exc)
                log.exception("shadow candidate failed on %s frame %d", taken[0].camera, taken[0].index)

    def _compare(self, frame: Frame, live: Prediction) -> None:
        started = time.perf_counter()
        model = self.candidate
        outputs = model.infer(model.prepare([frame.image]))
        candidate = model.postprocess(outputs, [frame.image.shape[:2]])[0]
        spent = (time.perf_counter() - started) * 1000.0
        same = agree(live, candidate)
        live_events = self._live_rules.evaluate(frame, live)
        candidate_events = self._candidate_rules.evaluate(frame, candidate)
        with self._lock:
            self.spent_ms += spent
            self.compared += 1
            self.agreed += int(same)
            self._count("live", live_events)
            self._count("candidate", candidate_events)
        if not same and self.on_disagree is not None:
            self.on_disagree(frame, live, candidate)

    def _count(self, side: str, events: list[Event]) -> None:
        for event in events:
            if event.phase == "start":
                self.events[side][event.type] += 1
                self.recent[side].append(
                    {
                        "ts": event.ts,
                        "camera": event.camera,
                        "type": event.type,
                        "label": event.label,
                        "score": event.score,
                    }
                )

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10.0)

    def state(self) -> dict[str, Any]:
        manifest = self.candidate.manifest
        with self._lock:
            live_ms = self._live_ms()
            return {
                "bundle": str(self.config.bundle),
                "name": manifest.name,
                "version": manifest.version,
                "artifact": self.candidate.artifact.key,
                "offered": self.offered,
                "compared": self.compared,
                "agreement": round(self.agreed / self.compared, 4) if self.compared else None,
                "over_budget": self.over_budget,
                "replaced": self.replaced,
                "cost": round(self.spent_ms / live_ms, 4) if live_ms else None,
                "cpu_budget": self.config.cpu_budget,
                "events": {side: dict(counts) for side, counts in self.events.items()},
                "recent_events": {side: list(items) for side, items in self.recent.items()},
                "error": self.error,
            }
