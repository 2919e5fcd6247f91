"""The device side of the fleet: its own broker connection, its state, and the desired bundle it follows.

``FleetLink`` is an ``MqttSink`` (same TLS, credentials and reconnects as the events) with client id
``{device}-fleet``, a retained availability topic with a last will, and subscriptions to the two
desired topics (this device's, which wins, and its group's); they are retained, so a device that
was offline during a rollout reads them the moment it connects again. ``FleetAgent`` publishes the
device state through ``mqtt_state.RetainedState`` and works through the desired bundle on its own
thread: fetch, verify, then hand the switch to the supervisor and report how it went. Each rollout
is tried at most once per bundle; a bundle that could not be fetched is retried with back-off.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import paho.mqtt.client as mqtt
from pydantic import ValidationError

from edge_runtime.bundle_switch import BundleStore, SwitchOutcome
from edge_runtime.config import SiteConfig
from edge_runtime.config.sinks import MqttSinkConfig
from edge_runtime.errors import BundleError
from edge_runtime.events import utc_iso
from edge_runtime.fleet.config import FleetConfig
from edge_runtime.fleet.device_state import DeviceReporter, unchanged
from edge_runtime.fleet.fetch import FetchError, fetch
from edge_runtime.fleet.host import PipelineHost
from edge_runtime.fleet.messages import DesiredBundle, DeviceMessage, FleetTopics, RolloutInfo, RolloutStatus
from edge_runtime.mqtt_state import FINAL_WAIT_S, RetainedState
from edge_runtime.sinks import MqttSink

log = logging.getLogger(__name__)


class FleetLink(MqttSink):
    """One device's fleet connection; ``on_desired(topic, message or None)`` on each desired message."""

    def __init__(
        self,
        config: MqttSinkConfig,
        topics: FleetTopics,
        group: str,
        on_desired: Callable[[str, DesiredBundle | None], None],
    ) -> None:
        device = config.client_id
        self.desired_topics = [topics.device(device, "desired"), topics.group(group, "desired")]
        self._on_desired = on_desired
        link = {
            "client_id": f"{device}-fleet",
            "availability_topic": topics.device(device, "status"),
            "state": None,
        }
        super().__init__(config.model_copy(update=link))

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        client.on_message = self._message
        super()._on_connect(client, userdata, flags, reason, properties)
        if not reason.is_failure:
            client.subscribe([(topic, 1) for topic in self.desired_topics])

    def _message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if not message.payload:
            self._on_desired(message.topic, None)  # cleared
            return
        try:
            self._on_desired(message.topic, DesiredBundle.model_validate_json(message.payload))
        except ValidationError as exc:
            log.error("fleet: ignoring a desired bundle on %s that is not valid: %s", message.topic, exc)


@dataclass
class SwitchRequest:
    bundle_id: str
    rollout: str
    done: threading.Event = field(default_factory=threading.Event)
    outcome: SwitchOutcome | None = None


class FleetAgent:
    """Publishes the device state and follows the desired bundle; the supervisor performs the switches."""

    def __init__(self, config: SiteConfig, store: BundleStore, host: PipelineHost) -> None:
        fleet, mqtt_config = config.fleet, config.sinks.mqtt
        if fleet is None or mqtt_config is None:
            raise ValueError("FleetAgent needs the fleet and sinks.mqtt sections")
        self.fleet: FleetConfig = fleet
        self.store, self.trust = store, config.trust
        self.device = mqtt_config.client_id
        self.topics = FleetTopics(fleet.topic)
        self.switches: queue.Queue[SwitchRequest] = queue.Queue()
        self.state: Literal["running", "switching", "stopped"] = "running"
        self.rollout: RolloutInfo | None = None
        self.reporter = DeviceReporter(self.device, fleet.group, host, store, config.trust)
        self._desired: dict[str, DesiredBundle | None] = {}
        self._wake = threading.Condition()
        self._stop = threading.Event()
        self.link = FleetLink(mqtt_config, self.topics, fleet.group, self._set_desired)
        self.retained = RetainedState(self.link, f"{self.topics.prefix}/devices", self.device)
        self._sent: DeviceMessage | None = None
        self._sent_at = 0.0
        self._connections = 0
        self._publishing = threading.Lock()  # the state thread and the desired thread both publish
        self._threads = [
            threading.Thread(
                target=self._loop, args=(self.publish, fleet.every_s), name="fleet-state", daemon=True
            ),
            threading.Thread(target=self._follow, name="fleet-desired", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def wanted(self) -> DesiredBundle | None:
        """This device's desired bundle if set, else its group's, else None (keep what runs)."""
        with self._wake:
            mine = self._desired.get(self.link.desired_topics[0])
            return mine if mine is not None else self._desired.get(self.link.desired_topics[1])

    def next_switch(self, timeout_s: float) -> SwitchRequest | None:
        try:
            return self.switches.get(timeout=timeout_s)
        except queue.Empty:
            return None

    def publish(self, *, final: bool = False) -> None:
        """Send the state when it changed or a heartbeat is due (``final``: the clean stop's last one)."""
        with self._publishing:
            message = self.reporter.message(self.rollout, "stopped" if final else self.state)
            due = time.monotonic() - self._sent_at >= self.fleet.heartbeat_s
            reconnected = self.link.connections != self._connections  # a broker may have lost it
            if final or due or reconnected or not unchanged(message, self._sent):
                self._connections = self.link.connections
                self.retained.publish("state", message, FINAL_WAIT_S if final else 0.0)
                self._sent, self._sent_at = message, time.monotonic()

    def close(self) -> None:
        self._stop.set()
        with self._wake:
            self._wake.notify_all()
        for thread in self._threads:
            thread.join(10.0)
        try:
            self.publish(final=True)
        except Exception:  # noqa: BLE001 - a stop must go on even if the last state cannot be made
            log.exception("fleet: the final state was not published")
        self.link.close()

    def _set_desired(self, topic: str, desired: DesiredBundle | None) -> None:
        with self._wake:
            self._desired[topic] = desired
            self._wake.notify_all()

    def _loop(self, work: Callable[[], None], every_s: float) -> None:
        while not self._stop.is_set():
            try:
                work()
            except Exception:  # the loop must never stop: log and try again next tick
                log.exception("fleet: %s failed", work.__name__)
            self._stop.wait(every_s)

    def _follow(self) -> None:
        delay = self.fleet.fetch.retry_min_s
        while not self._stop.is_set():
            desired = self.wanted()
            retry = False
            try:
                retry = desired is not None and self._pursue(desired)
            except Exception:  # noqa: BLE001 - the loop must never stop
                log.exception("fleet: following the desired bundle failed")
                retry = True
            with self._wake:
                if retry:  # back-off, woken early by a new desired message
                    self._wake.wait(delay * random.uniform(0.8, 1.2))
                    delay = min(delay * 2, self.fleet.fetch.retry_max_s)
                else:
                    delay = self.fleet.fetch.retry_min_s
                    if self.wanted() == desired:
                        self._wake.wait(5.0)

    def _pursue(self, desired: DesiredBundle) -> bool:
        """Bring the device to ``desired`` if it should go there; True to try again later."""
        if desired.bundle_id == self.store.current_id():
            self._report(desired, "active")
            return False
        failed = self.store.failed().get(desired.bundle_id)
        if failed is not None and failed.attempt == desired.rollout:
            self._report(desired, "rolled_back", failed.reason)  # tried in this rollout: not again
            return False
        if (
            self.rollout is not None
            and self.rollout.rollout == desired.rollout
            and self.rollout.status == "rejected"
        ):
            return False
        path = self.store.get(desired.bundle_id)
        if path is None and desired.url is None:
            self._report(
                desired, "rejected", f"bundle {desired.bundle_id[:16]} is not kept here and has no url"
            )
            return False
        if path is None and desired.url is not None:
            self._report(desired, "fetching")
            self.store.prune()  # keep current and previous only, before a new one comes in
            try:
                local = fetch(
                    desired.url,
                    self.store.incoming,
                    timeout_s=self.fleet.fetch.timeout_s,
                    expect_sha256=desired.archive_sha256,
                    stop=self._stop,
                )
                self.store.add(local, self.trust, expect=desired.bundle_id)
                if local.parent == self.store.incoming:
                    local.unlink(missing_ok=True)  # the download, now kept unpacked and verified
            except FetchError as exc:
                self._report(desired, "failed", str(exc))
                return True
            except BundleError as exc:  # wrong signature, hashes or digest: never run, never retried
                for leftover in self.store.incoming.glob("*.tar.gz"):
                    leftover.unlink(missing_ok=True)
                log.error("fleet: rejected bundle of rollout %s: %s", desired.rollout, exc)
                self._report(desired, "rejected", str(exc))
                return False
        if self.wanted() != desired:
            return False  # asked for something else while fetching: follow that instead
        self._report(desired, "switching")
        request = SwitchRequest(desired.bundle_id, desired.rollout)
        self.switches.put(request)
        while not request.done.wait(0.5):
            if self._stop.is_set():
                return False
        outcome = request.outcome
        if outcome is not None and outcome.status == "rolled_back":
            self._report(desired, "rolled_back", outcome.reason)
        else:
            self._report(desired, "active")
        return False

    def _report(self, desired: DesiredBundle, status: RolloutStatus, reason: str = "") -> None:
        """Say where the device stands with ``desired`` (once: the same news is not sent again)."""
        now = self.rollout
        if now is not None and (now.rollout, now.bundle_id, now.status, now.reason) == (
            desired.rollout,
            desired.bundle_id,
            status,
            reason,
        ):
            return
        self.rollout = RolloutInfo(
            rollout=desired.rollout,
            bundle_id=desired.bundle_id,
            status=status,
            reason=reason,
            ts=utc_iso(time.time()),
        )
        self.publish()
