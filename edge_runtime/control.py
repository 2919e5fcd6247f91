"""The daemon's outputs for control systems: retained MQTT state topics and the OPC UA server.

Both read the same ``state.site_state`` on their own threads, so neither touches the capture or
inference path, and both say the same thing. asyncua is imported only when OPC UA is enabled.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from edge_runtime.config import SiteConfig
from edge_runtime.events import Sink
from edge_runtime.mqtt_state import StatePublisher
from edge_runtime.observe import DaemonView
from edge_runtime.sinks import MqttSink
from edge_runtime.state import EventTally, site_state


def open_control_outputs(
    config: SiteConfig, view: DaemonView, tally: EventTally, sinks: Sequence[Sink]
) -> list[Callable[[], None]]:
    """Start what the configuration enables; returns their ``close`` functions (call before the sinks')."""
    state = partial(site_state, view, tally)
    closers = []
    mqtt = next((sink for sink in sinks if isinstance(sink, MqttSink)), None)
    if mqtt is not None and mqtt.config.state is not None:
        closers.append(StatePublisher(mqtt, mqtt.config.state, state).close)
    if config.opcua.enabled:
        from edge_runtime.opcua_server import Layout, OpcUaServer

        belt = config.belt_load
        layout = Layout(
            cameras=[camera.name for camera in config.cameras],
            machines=[machine.name for machine in config.machines],
            belt_cameras=[c.name for c in config.cameras if belt is not None and belt.watches(c.name)],
        )
        closers.append(OpcUaServer(config.opcua, layout, state).close)
    return closers
