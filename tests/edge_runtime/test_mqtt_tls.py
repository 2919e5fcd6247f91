"""MQTT over TLS with a username and password, against a real Mosquitto TLS listener whose
self-signed CA and server certificate are generated here with ``openssl``."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from conftest import MOSQUITTO, Mosquitto
from pydantic import SecretStr

from edge_runtime.config.sinks import MqttSinkConfig, MqttTlsConfig
from edge_runtime.events import Event
from edge_runtime.sinks import MqttSink

PASSWORD = "s3cret-underground"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def tls_broker(tmp_path: Path):
    if MOSQUITTO is None or shutil.which("openssl") is None or shutil.which("mosquitto_passwd") is None:
        pytest.skip("needs mosquitto, mosquitto_passwd and openssl (apt-get install mosquitto openssl)")
    certs = tmp_path / "certs"
    certs.mkdir()
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=adit test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        cwd=certs,
    )
    _openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        cwd=certs,
    )
    (certs / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "server.crt",
        cwd=certs,
    )
    passwords = tmp_path / "passwords"
    subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(passwords), "edge", PASSWORD], check=True, capture_output=True
    )
    passwords.chmod(0o600)
    broker = Mosquitto(
        tmp_path / "broker",
        persistence=False,
        settings=(
            "allow_anonymous false",
            f"password_file {passwords}",
            f"cafile {certs / 'ca.crt'}",
            f"certfile {certs / 'server.crt'}",
            f"keyfile {certs / 'server.key'}",
        ),
    )
    broker.start()
    broker.ca = certs / "ca.crt"
    yield broker
    broker.stop()


def _event() -> Event:
    return Event(
        camera="belt", type="person", label="p", score=0.9, frame=1, phase="start", rule="r", pts_s=0.0
    )


def _tls_subscriber(broker) -> tuple[mqtt.Client, list[bytes]]:
    got: list[bytes] = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="tls-sub")
    client.username_pw_set("edge", PASSWORD)
    client.tls_set(ca_certs=str(broker.ca), cert_reqs=ssl.CERT_REQUIRED)
    client.on_connect = lambda c, *_: c.subscribe("adit/#", qos=1)
    client.on_message = lambda _c, _u, msg: got.append(msg.payload)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    return client, got


def _config(broker, password: str, ca: Path | None) -> MqttSinkConfig:
    return MqttSinkConfig(
        host="127.0.0.1",
        port=broker.port,
        client_id="edge-tls",
        username="edge",
        password=SecretStr(password),
        tls=MqttTlsConfig(ca_file=ca),
        publish_timeout_s=2,
        resubscribe_grace_s=0,
    )


def _connected(sink: MqttSink, timeout_s: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not sink.connected and time.monotonic() < deadline:
        time.sleep(0.1)
    return sink.connected


def test_events_travel_over_tls_with_a_password(tls_broker):
    client, got = _tls_subscriber(tls_broker)
    sink = MqttSink(_config(tls_broker, PASSWORD, tls_broker.ca))
    try:
        assert _connected(sink)
        event = _event()
        sink.deliver(event)
        deadline = time.monotonic() + 15
        while not any(b"person" in payload for payload in got) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [json.loads(p)["id"] for p in got if p.startswith(b"{")] == [event.id]
    finally:
        sink.close()
        client.loop_stop()
        client.disconnect()


@pytest.mark.parametrize(
    ("password", "use_ca"),
    [("wrong-password", True), (PASSWORD, False)],
    ids=["bad_password", "untrusted_cert"],
)
def test_a_refused_login_or_an_untrusted_certificate_never_connects_and_never_leaks(
    tls_broker, caplog, password, use_ca
):
    sink = MqttSink(_config(tls_broker, password, tls_broker.ca if use_ca else None))
    try:
        assert not _connected(sink, timeout_s=4.0)
        with pytest.raises(OSError, match="not connected"):
            sink.deliver(_event())
    finally:
        sink.close()
    assert password not in caplog.text and PASSWORD not in caplog.text
