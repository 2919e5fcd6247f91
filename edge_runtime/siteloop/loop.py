"""The site loop as the pipeline sees it: one object, one call per batch of frames.

``observe`` runs on the inference thread after the rules: it measures drift (returning the drift
events to deliver), picks hard examples and hands them to the capture store's writer thread, keeps
the raw frame of each event start (so operator feedback has it), and offers frames to the shadow
run. Each part is optional and costs nothing when off.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from edge_runtime.bundle import Bundle
from edge_runtime.config import SiteConfig
from edge_runtime.events import Event
from edge_runtime.postprocess import Prediction
from edge_runtime.siteloop.captures import BundleTag, CaptureStore, prediction_json
from edge_runtime.siteloop.drift import DriftMonitor
from edge_runtime.siteloop.select import HardExampleSelector, Reason
from edge_runtime.siteloop.shadow import ShadowRun, load_candidate
from edge_runtime.sources import Frame
from edge_runtime.timing import StageTimers


class SiteLoop:
    def __init__(
        self,
        config: SiteConfig,
        bundle: Bundle,
        artifact: str,
        *,
        captures: CaptureStore | None = None,
        shadow: ShadowRun | None = None,
    ) -> None:
        settings = config.site_loop
        manifest = bundle.manifest
        self.classes = manifest.classes
        self.captures = captures
        self.selector = (
            HardExampleSelector(settings.capture, config.rules, manifest.classes)
            if captures is not None
            else None
        )
        self.keep_events = settings.capture.events
        reference = manifest.reference
        self.drift = DriftMonitor(reference, settings.drift) if settings.drift.enabled and reference else None
        self.shadow = shadow
        self.tag = BundleTag(manifest.name, manifest.version, artifact)

    @classmethod
    def build(cls, config: SiteConfig, bundle: Bundle, artifact: str, timers: StageTimers) -> SiteLoop | None:
        """The daemon's site loop: capture store, drift monitor and shadow run as the site file asks;
        None when none of them is on (the pipeline then does not even time the hook)."""
        settings = config.site_loop
        manifest = bundle.manifest
        tag = BundleTag(manifest.name, manifest.version, artifact)
        captures = CaptureStore(settings.capture, tag) if settings.capture.enabled else None
        shadow = None
        if settings.shadow is not None:
            candidate = load_candidate(config, settings.shadow, manifest)
            candidate_classes = candidate.manifest.classes

            def disagreed(frame: Frame, live: Prediction, other: Prediction) -> None:
                if captures is not None:
                    captures.offer(
                        frame,
                        ["shadow_disagreement"],
                        prediction_json(live, manifest.classes),
                        shadow=prediction_json(other, candidate_classes),
                    )

            shadow = ShadowRun(settings.shadow, candidate, config.rules, timers, on_disagree=disagreed)
        loop = cls(config, bundle, artifact, captures=captures, shadow=shadow)
        return loop if captures is not None or shadow is not None or loop.drift is not None else None

    def observe(
        self, frames: Sequence[Frame], predictions: Sequence[Prediction], caused: Sequence[Sequence[Event]]
    ) -> list[Event]:
        """Drift events to deliver; hard examples and shadow frames are handed on, not waited for."""
        raised: list[Event] = []
        for frame, prediction, events in zip(frames, predictions, caused, strict=True):
            if self.drift is not None:
                raised += self.drift.observe(frame, prediction)
            if self.shadow is not None:
                self.shadow.offer(frame, prediction)
            if self.captures is not None and self.selector is not None:
                self._capture(self.captures, self.selector, frame, prediction, events)
        return raised

    def _capture(
        self,
        captures: CaptureStore,
        selector: HardExampleSelector,
        frame: Frame,
        prediction: Prediction,
        events: Sequence[Event],
    ) -> None:
        reasons: list[Reason] = selector.reasons(frame.camera, prediction)
        starts = [e.id for e in events if e.phase == "start" and e.kind == "rule"] if self.keep_events else []
        if starts:
            reasons.append("event")
        if reasons:
            captures.offer(frame, reasons, prediction_json(prediction, self.classes), event_ids=starts)

    def close(self) -> list[Event]:
        """Drift events still raised end; the shadow run and the capture writer stop."""
        ended = self.drift.close() if self.drift is not None else []
        if self.shadow is not None:
            self.shadow.close()
        if self.captures is not None:
            self.captures.close()
        return ended

    def state(self) -> dict[str, Any]:
        return {
            "captures": self.captures.state() if self.captures is not None else None,
            "drift": self.drift.state() if self.drift is not None else None,
            "shadow": self.shadow.state() if self.shadow is not None else None,
        }
