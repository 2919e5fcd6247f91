"""Retained MQTT state topics: what a PLC or Node-RED reads to know how the site is *now*.

Per device (the MQTT ``client_id``) and per camera, machine and belt, one retained JSON message
(``state.CameraMessage`` and its siblings, schemas in docs/events) under ``{state.topic}/{device}/
{camera|machine|belt}/{name}``. A subscriber gets the current value the moment it subscribes. Every
``every_s`` the publisher reads the site's state and sends only the topics whose message changed,
and all of them again after each reconnect (a broker restarted without persistence forgets retained
messages). A clean stop publishes ``state: stopped``; after a crash the sink's last will turns the
availability topic ``offline``, so a reader trusts these topics only while that says ``online``.

The publisher knows nothing of what it publishes: ``RetainedState.publish(path, message)`` takes any
path below the device, so more of a device's state (its bundle, a fleet's rollout) extends it
through the same object.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from pydantic import BaseModel

from edge_runtime.config.sinks import MqttStateConfig
from edge_runtime.sinks import MqttSink
from edge_runtime.state import SiteState, belt_message, camera_message, machine_message

log = logging.getLogger(__name__)

FINAL_WAIT_S = 2.0  # at a clean stop, how long each "stopped" message may wait for the broker


class RetainedState:
    """Retained messages under ``{prefix}/{device}/``: each path's newest, re-sent after a reconnect."""

    def __init__(self, sink: MqttSink, prefix: str, device: str) -> None:
        self.sink, self.root = sink, f"{prefix.rstrip('/')}/{device}"
        self.device = device
        self.published = 0
        self._sent: dict[str, str] = {}  # path -> payload the broker has
        self._wanted: dict[str, str] = {}  # path -> newest payload
        self._connection = 0

    def publish(self, path: str, message: BaseModel, wait_s: float = 0.0) -> None:
        """Make ``message`` the retained value of ``{root}/{path}``: now if connected, else once connected."""
        payload = message.model_dump_json()
        self._wanted[path] = payload
        if self.sink.connections != self._connection:  # a new connection: the broker may have lost them all
            self._connection, self._sent = self.sink.connections, {}
        for wanted_path, wanted in self._wanted.items():
            if self._sent.get(wanted_path) != wanted and self.sink.publish_retained(
                f"{self.root}/{wanted_path}", wanted, wait_s if wanted_path == path else 0.0
            ):
                self._sent[wanted_path] = wanted
                self.published += 1


class StatePublisher:
    """A thread that turns ``state()`` into retained topics every ``config.every_s``."""

    def __init__(self, sink: MqttSink, config: MqttStateConfig, state: Callable[[], SiteState]) -> None:
        self.retained = RetainedState(sink, config.topic, sink.config.client_id)
        self.config, self._state = config, state
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mqtt-state", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the thread, then publish each camera and machine as ``stopped`` (before the sink closes)."""
        self._stop.set()
        self._thread.join(10.0)
        try:
            self._publish(self._state(), stopped=True)
        except Exception:  # noqa: BLE001 - a stop must go on even if the last message cannot be made
            log.exception("MQTT state: the final state was not published")

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._publish(self._state())
            except Exception:  # the loop must never stop: count, log, try again next tick
                self.failures += 1
                log.exception("MQTT state: publishing failed")
            self._stop.wait(self.config.every_s)

    def _publish(self, state: SiteState, *, stopped: bool = False) -> None:
        device, wait_s = self.retained.device, FINAL_WAIT_S if stopped else 0.0
        for camera in state.cameras:
            seen = camera_message(device, camera)
            if stopped:
                seen = seen.model_copy(update={"online": False, "state": "stopped"})
            self.retained.publish(f"camera/{camera.name}", seen, wait_s)
        for machine in state.machines:
            heard = machine_message(device, machine)
            if stopped:
                heard = heard.model_copy(update={"online": False, "state": "stopped"})
            self.retained.publish(f"machine/{machine.name}", heard, wait_s)
        for belt_camera, belt in state.belts.items():
            self.retained.publish(f"belt/{belt_camera}", belt_message(device, belt_camera, belt), wait_s)
