"""Replay: a video file through the daemon's model, rules and sinks, every frame, deterministically.

What a site's engineer runs to check a configuration against recorded footage (``edge_runtime
replay``), and what the tests and benchmarks measure the daemon's stages with.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, replace
from pathlib import Path

from edge_runtime.capture import iter_frames, read_ahead
from edge_runtime.config import SiteConfig
from edge_runtime.errors import ConfigError, SourceError
from edge_runtime.events import Event, Sink
from edge_runtime.inference import Pipeline, PipelineSummary
from edge_runtime.model import BundleModel
from edge_runtime.rules import RuleSet
from edge_runtime.siteloop.loop import SiteLoop
from edge_runtime.sources import Frame, open_source
from edge_runtime.startup import belt_monitor, verify_daemon
from edge_runtime.timing import StageTimers


@dataclass(frozen=True)
class ReplayResult:
    events: list[Event]
    summary: PipelineSummary


def replay(
    config: SiteConfig, video: Path, *, camera: str | None = None, sinks: Sequence[Sink] = ()
) -> ReplayResult:
    """Run every frame of ``video`` as the camera ``camera`` (default: the first), none dropped.

    Frames are decoded and preprocessed one thread ahead of inference (a live capture thread
    decodes ahead too); rules and delivery run on the caller's thread, in frame order.

    The camera's name and stride apply; loop and realtime pacing do not. Deterministic: the same
    video and configuration give the same events (ids and wall-clock times aside). So a frame the model
    fails on stops the replay with ``InferenceError`` naming it, where the daemon would count and skip it:
    a skipped frame would make the events differ from the footage's without anyone noticing.
    """
    bundles = verify_daemon(config)
    bundle, model = bundles.camera_bundle, bundles.model  # the model as the check compiled it
    settings = config.camera(camera).model_copy(
        update={"source": str(video), "sub_stream": None, "loop": False, "realtime": False}
    )
    timers = StageTimers()
    if model is None:
        raise ConfigError("replay needs a camera model (this site has only machines)")
    site_loop = SiteLoop.build(config, bundle, model.artifact.key, timers)
    pipeline = Pipeline(
        model, RuleSet(config.rules), sinks, timers, belt=belt_monitor(config, bundle), site_loop=site_loop
    )
    events: list[Event] = []
    started = time.monotonic()
    with (
        closing(open_source(settings)) as source,
        read_ahead(prepared(iter_frames(source, timers), model, timers)) as frames,
    ):
        for frame in frames:  # throughput mode: frames overlap on the infer requests, collected in order
            pipeline.submit([frame])
            events += pipeline.collect()
    events += pipeline.finish()  # the frames still on infer requests too
    if pipeline.frames == 0:
        raise SourceError(f"{video}: no frame could be decoded")
    return ReplayResult(events=events, summary=pipeline.summary(time.monotonic() - started))


def prepared(frames: Iterator[Frame], model: BundleModel, timers: StageTimers) -> Iterator[Frame]:
    """Each frame with its model input attached: run on the read-ahead thread, off the inference path."""
    for frame in frames:
        with timers.measure("preprocess"):
            tensor = model.prepare([frame.image])
        yield replace(frame, tensor=tensor)


def replay_tolerance(config: SiteConfig, camera: str | None = None) -> int:
    """Frames an event may trail its truth interval's end: the longest debounce window, in video frames."""
    settings = config.camera(camera)
    windows = [rule.debounce.window for rule in config.rules if rule.watches(settings.name)]
    return max(windows, default=0) * settings.stride
