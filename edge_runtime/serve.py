"""The daemon's main loop: start the next cameras' frames on the model, collect what has finished.

One thread drives the shared inference stage. Each turn it starts the most overdue cameras' newest
frames if the model can take more (an idle infer request in throughput mode; always in latency mode;
``FairScheduler``), then collects the batches the model has finished (rules and delivery run here).
With nothing to start it waits until a capture thread says it has a new frame or the runtime says
a batch finished (one shared ``threading.Event``: no polling). A few times a second, after the
frames are on their way, it also does the housekeeping: the systemd watchdog, camera health, the
capacity verdict and the health events they raise.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence

from edge_runtime.capacity import CapacityMonitor
from edge_runtime.events import Event
from edge_runtime.inference import Pipeline
from edge_runtime.liveness import Liveness
from edge_runtime.observe import CameraView
from edge_runtime.scheduler import FairScheduler
from edge_runtime.systemd import SystemdNotifier

log = logging.getLogger(__name__)

IDLE_WAIT_S = 0.5  # longest sleep when no camera has a new frame and nothing is in flight
HOUSEKEEPING_S = 0.1  # watchdog, camera health ticks, raised events
CAPACITY_CHECK_S = 1.0


class ServeLoop:
    """Runs until ``stop`` is set or every camera has ended (and no machine runs)."""

    def __init__(
        self,
        pipeline: Pipeline,
        scheduler: FairScheduler,
        cameras: Sequence[CameraView],
        capacity: CapacityMonitor,
        liveness: Liveness,
        notifier: SystemdNotifier,
        *,
        stalled: Callable[[], dict[str, float]],
        raised: queue.SimpleQueue[Event],
        ready: threading.Event,
        stop: threading.Event,
        machines_alive: Callable[[], bool],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``clock``: when housekeeping and the capacity verdict are due (monotonic seconds)."""
        self.pipeline = pipeline
        self.scheduler = scheduler
        self.cameras = list(cameras)
        self.capacity = capacity
        self.liveness = liveness
        self.notifier = notifier
        self.stalled = stalled
        self.raised = raised
        self.ready = ready
        self.stop = stop
        self.machines_alive = machines_alive
        self._stalled: dict[str, float] = {}
        self._clock = clock
        self._housekeeping_at = 0.0
        self._capacity_at = clock() + CAPACITY_CHECK_S

    def run(self) -> None:
        pipeline = self.pipeline
        self._pet_watchdog()  # once before any frame: the first one could hang the loop before housekeeping
        while not self.stop.is_set():
            # a waiting frame goes to the model first, then what has finished is delivered, and only
            # then the housekeeping runs (while the model infers): it never sits between a frame and
            # the model, nor between a finished frame and its events
            frames = self.scheduler.take(pipeline.batch_limit) if pipeline.can_start() else []
            with self.liveness.busy("inference"):
                if frames:
                    pipeline.submit(frames)
                pipeline.collect()
            self._housekeeping()
            if frames:
                continue
            if self._all_ended():
                if not pipeline.in_flight:
                    break
                # nothing more will start: wait for what is in flight (a request OpenVINO failed is only
                # reported when a later one starts, or here), so the loop ends
                pipeline.wait()
                continue
            self.ready.wait(IDLE_WAIT_S)  # set by a capture thread's new frame or a finished batch
            self.ready.clear()

    def drain_raised(self) -> None:
        """Deliver the health events raised since the last turn (also once more at the end)."""
        raised = []
        while not self.raised.empty():
            raised.append(self.raised.get_nowait())
        self.pipeline.deliver(raised)

    def _all_ended(self) -> bool:
        return all(c.capture.exhausted for c in self.cameras) and not self.machines_alive()

    def _housekeeping(self) -> None:
        now = self._clock()
        if now < self._housekeeping_at:
            return
        self._housekeeping_at = now + HOUSEKEEPING_S
        self._pet_watchdog()
        for camera in self.cameras:
            if camera.health is not None and not camera.capture.exhausted:
                camera.health.tick()
        if now >= self._capacity_at:
            self._capacity_at = now + CAPACITY_CHECK_S
            self.capacity.check()
        self.drain_raised()

    def _pet_watchdog(self) -> None:
        self._stalled = pet_watchdog(self.notifier, self.stalled(), self._stalled)


def pet_watchdog(
    notifier: SystemdNotifier, stalled: dict[str, float], before: dict[str, float]
) -> dict[str, float]:
    """Pet systemd's watchdog only while no stage hangs and every sink loop keeps trying, so systemd
    restarts a daemon with a stuck sink (the outbox keeps the events across the restart)."""
    if stalled and stalled.keys() != before.keys():
        log.error(
            "stalled: %s; no longer petting the watchdog",
            ", ".join(f"{stage} busy {seconds:.0f} s" for stage, seconds in stalled.items()),
        )
    elif before and not stalled:
        log.info("no stage stalled any more; petting the watchdog again")
    if not stalled:
        notifier.watchdog()
    return stalled
