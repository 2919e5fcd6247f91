"""Credentials in URLs and configuration never reach /status, the saved configuration or a log."""

from __future__ import annotations

import json
import time

import pytest
from pydantic import SecretStr

from edge_runtime.config import SiteConfig
from edge_runtime.config.sinks import OutboxConfig
from edge_runtime.live import LatestFrames
from edge_runtime.observe import DaemonView
from edge_runtime.outbox import Outbox
from edge_runtime.redact import redact, redact_url
from edge_runtime.timing import StageTimers
from edge_runtime.yamlconfig import save_config

SECRETS = ("hunter2", "p@ss/word", "tok3n", "mqttpw", "Bearer xyz")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("rtsp://admin:hunter2@10.0.0.5:554/s1", "rtsp://admin:***@10.0.0.5:554/s1"),
        ("rtsp://admin:p@ss/word@10.0.0.5/s1", "rtsp://admin:***@10.0.0.5/s1"),  # unescaped @ and /
        ("https://hook:tok3n@example.org/events", "https://hook:***@example.org/events"),
        ("rtsp://10.0.0.5/s1", "rtsp://10.0.0.5/s1"),
        ("rtsp://viewer@10.0.0.5/s1", "rtsp://viewer@10.0.0.5/s1"),
        ("runs/demo/video.avi", "runs/demo/video.avi"),
    ],
)
def test_passwords_in_urls_are_redacted(url, shown):
    assert redact_url(url) == shown


def _site(tmp_path) -> SiteConfig:
    return SiteConfig.model_validate(
        {
            "cameras": [
                {"name": "a", "source": "rtsp://admin:hunter2@10.0.0.5/s1"},
                {"name": "b", "source": "rtsp://admin:p@ss/word@10.0.0.6/s1"},
            ],
            "sinks": {
                "jsonl": {"path": str(tmp_path / "events.jsonl")},
                "webhook": {
                    "url": "https://hook:tok3n@example.org/e",
                    "headers": {"Authorization": "Bearer xyz"},
                },
                "mqtt": {"username": "edge", "password": "mqttpw"},
            },
            "outbox": {"path": str(tmp_path / "outbox.sqlite")},
        }
    )


def test_status_and_the_saved_configuration_hide_every_secret(tmp_path):
    config = _site(tmp_path)
    outbox = Outbox(OutboxConfig(path=tmp_path / "outbox.sqlite"), [])
    try:
        view = DaemonView(
            config=config,
            artifact="onnx-fp32",
            runtime_precision="fp32",
            manifest=None,  # /status does not read it
            cameras=[],
            outbox=outbox,
            timers=StageTimers(),
            live=LatestFrames(),
            started=time.monotonic(),
        )
        status = json.dumps(view.status())
    finally:
        outbox.close()
    save_config(config, tmp_path / "saved.yaml")
    saved = (tmp_path / "saved.yaml").read_text()
    for secret in SECRETS:
        assert secret not in status and secret not in saved
    assert "rtsp://admin:***@10.0.0.5/s1" in status and "rtsp://admin:***@10.0.0.5/s1" in saved


def test_redact_walks_nested_structures_and_leaves_other_values():
    data = {"a": [{"u": "rtsp://x:y@h/"}], "n": 3, "s": SecretStr("z").get_secret_value() and "plain"}
    assert redact(data) == {"a": [{"u": "rtsp://x:***@h/"}], "n": 3, "s": "plain"}
