"""The sinks registry: JSONL file, MQTT broker, HTTP webhook, each enabled by its config section.

A sink's ``deliver`` returns once the receiver has the event, or raises: ``OSError`` when the
receiver or the way to it fails (retried until it works), ``DeliveryRefused`` when the receiver
refuses this one event (dead-lettered after a few attempts). The outbox calls it from the sink's
own thread, so a slow or dead sink never blocks inference or the other sinks. Delivery is at least
once: receivers dedupe by ``event.id``.
"""

from __future__ import annotations

import http.client
import logging
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from pydantic import BaseModel

from edge_runtime.config.sinks import MqttSinkConfig, SinksConfig, WebhookSinkConfig
from edge_runtime.errors import ConfigError
from edge_runtime.events import DeliveryRefused, Event, JsonlSink, Sink
from edge_runtime.redact import redact_url
from edge_runtime.registry import Registry

log = logging.getLogger(__name__)

SinkFactory = Callable[[Any], Sink]
_SINKS: Registry[SinkFactory] = Registry("sink")
register_sink = _SINKS.register  # a factory registers under the name of its ``sinks:`` section
list_sinks = _SINKS.names


def build_sinks(config: SinksConfig) -> list[Sink]:
    """Open every sink whose section is present, in the configuration's order."""
    sinks: list[Sink] = []
    for name in type(config).model_fields:
        section = getattr(config, name)
        if section is None:
            continue
        if name not in _SINKS:
            raise ConfigError(f"sinks.{name}: no such sink; available: {', '.join(list_sinks())}")
        sinks.append(_SINKS.require(name)(section))
    return sinks


@register_sink("jsonl")
def _jsonl(config: BaseModel) -> Sink:
    return JsonlSink(config.path)  # type: ignore[attr-defined]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not a delivery: urllib would re-send the event as a GET without its body
    (301-303) and carry the Authorization header to another origin; returning None makes it an error."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)
# The receiver refuses this event itself (bad body, too large, a conflicting id): retrying cannot help.
# 401/403/404/405/408/429 are the receiver's setup or load, not the event: those are retried.
_EVENT_REFUSED = frozenset({400, 409, 413, 415, 422})
_ANSWER_LIMIT = 64 * 1024  # bytes of a 2xx answer read (and thrown away) before the connection closes


@register_sink("webhook")
class WebhookSink:
    """POSTs each event as JSON; delivered only on a 2xx answer to that POST, redirects never followed."""

    name = "webhook"

    def __init__(self, config: WebhookSinkConfig) -> None:
        self.config = config
        self._where = f"webhook {redact_url(config.url)}"

    def deliver(self, event: Event) -> None:
        headers = {"Content-Type": "application/json", "Idempotency-Key": event.id}
        headers |= {key: value.get_secret_value() for key, value in self.config.headers.items()}
        request = urllib.request.Request(
            self.config.url, data=event.to_json().encode(), headers=headers, method="POST"
        )
        try:
            with _OPENER.open(request, timeout=self.config.timeout_s) as response:
                status = response.status
                try:
                    response.read(_ANSWER_LIMIT)
                except (OSError, http.client.HTTPException):
                    pass  # the status line was the answer; a body cut short does not undo it
        except urllib.error.HTTPError as exc:
            exc.close()
            raise self._refusal(exc.code, exc.reason, exc.headers.get("Location"), event) from None
        except http.client.HTTPException as exc:  # a garbled status line: the receiver, not the event
            raise OSError(f"{self._where}: unreadable answer ({type(exc).__name__}: {exc})") from exc
        if not 200 <= status < 300:
            raise OSError(f"{self._where}: HTTP {status} is not a 2xx answer")

    def _refusal(self, code: int, reason: str, location: str | None, event: Event) -> Exception:
        if 300 <= code < 400:
            return OSError(
                f"{self._where}: HTTP {code} redirect to {redact_url(location or '?')} not followed "
                "(delivered means a 2xx answer from the configured URL; set sinks.webhook.url to the target)"
            )
        if code in _EVENT_REFUSED:
            return DeliveryRefused(f"{self._where}: HTTP {code} {reason} for event {event.id}")
        return OSError(f"{self._where}: HTTP {code} {reason}")

    def close(self) -> None:
        """Nothing held between deliveries."""


@register_sink("mqtt")
class MqttSink:
    """Publishes events with QoS 1 and keeps a retained ``online``/``offline`` availability topic.

    paho's network loop runs on its own thread and reconnects with back-off; the client id is fixed
    and the session persistent (``clean_session=False``), so the broker keeps the daemon's in-flight
    messages across a reconnect. ``deliver`` waits for the PUBACK and raises OSError if it does not
    come, leaving the event in the outbox for a retry (a possible duplicate, deduped by id).
    """

    name = "mqtt"

    def __init__(self, config: MqttSinkConfig) -> None:
        self.config = config
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=config.client_id, clean_session=False
        )
        if config.username is not None:
            password = config.password.get_secret_value() if config.password is not None else None
            client.username_pw_set(config.username, password)
        if config.tls is not None:
            tls = config.tls
            try:
                client.tls_set(
                    ca_certs=_optional(tls.ca_file),
                    certfile=_optional(tls.cert_file),
                    keyfile=_optional(tls.key_file),
                    cert_reqs=ssl.CERT_REQUIRED,
                )
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(f"sinks.mqtt.tls: cannot load certificates ({exc})") from exc
            client.tls_insecure_set(tls.insecure)
        # per device, so one box's last will never hides another's "online" (docs/events.md)
        self.availability_topic = config.availability_topic.replace("{device}", config.client_id)
        client.will_set(self.availability_topic, "offline", qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        self._client = client
        self.connections = 0  # successful connects so far: retained state is re-sent after each (mqtt_state)
        self._publish_after = 0.0  # monotonic time before which a fresh session waits for subscribers
        client.connect_async(config.host, config.port, keepalive=config.keepalive_s)
        client.loop_start()

    @property
    def connected(self) -> bool:
        return self._client.is_connected()

    def deliver(self, event: Event) -> None:
        if not self._client.is_connected():
            raise OSError(f"MQTT broker {self.config.host}:{self.config.port} not connected")
        time.sleep(max(0.0, self._publish_after - time.monotonic()))
        topic = f"{self.config.topic}/{event.camera}/{event.type}"
        try:
            info = self._client.publish(topic, event.to_json(), qos=1)
        except ValueError as exc:  # paho: a wildcard in the topic, a payload too large: this event only
            raise DeliveryRefused(f"MQTT cannot publish event {event.id} to {topic!r} ({exc})") from exc
        try:
            info.wait_for_publish(self.config.publish_timeout_s)
        except (RuntimeError, ValueError) as exc:  # paho: not queued, or the connection dropped
            raise OSError(f"MQTT publish of {event.id} failed ({exc})") from exc
        if not info.is_published():
            raise OSError(f"MQTT broker sent no PUBACK for {event.id} in {self.config.publish_timeout_s} s")

    def publish_retained(self, topic: str, payload: str, wait_s: float = 0.0) -> bool:
        """Publish a retained QoS 1 message without the outbox (state, not events); False if not sent.

        ``wait_s``: how long to wait for the broker's PUBACK (0: queue it and return).
        """
        if not self._client.is_connected():
            return False
        info = self._client.publish(topic, payload, qos=1, retain=True)
        if wait_s > 0:
            try:
                info.wait_for_publish(wait_s)
            except (RuntimeError, ValueError):
                return False
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    def close(self) -> None:
        if self._client.is_connected():
            self._client.publish(self.availability_topic, "offline", qos=1, retain=True).wait_for_publish(
                self.config.publish_timeout_s
            )
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            log.warning(
                "MQTT broker %s:%d refused the connection: %s", self.config.host, self.config.port, reason
            )
            return
        if not flags.session_present:
            # a broker restarted without persistence forgot every subscription too: a QoS 1 message
            # published before a subscriber re-subscribes is acknowledged and then dropped (measured:
            # 53 of 100 lost, REAL-PARTS.md), so give subscribers a moment first
            self._publish_after = time.monotonic() + self.config.resubscribe_grace_s
        log.info("MQTT connected to %s:%d", self.config.host, self.config.port)
        client.publish(self.availability_topic, "online", qos=1, retain=True)
        self.connections += 1

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        log.warning("MQTT disconnected from %s:%d (%s)", self.config.host, self.config.port, reason)


def _optional(path: Any) -> str | None:
    return None if path is None else str(path)
