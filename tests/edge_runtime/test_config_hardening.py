"""Configuration that used to pass validation and then crash or misbehave is refused at start (exit 2)."""

from __future__ import annotations

import pytest
import yaml

from edge_runtime.cli import main
from edge_runtime.config import load_site_config
from edge_runtime.errors import ConfigError


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("snapshots.quota_mb=.inf", "snapshots.quota_mb"),
        ("outbox.drain_timeout_s=.inf", "outbox.drain_timeout_s"),
        ("outbox.retry_max_s=.nan", "outbox.retry_max_s"),
        ("watchdog.stall_s=.inf", "watchdog.stall_s"),
    ],
)
def test_infinity_and_nan_are_refused_where_a_number_is_expected(colour_site, capsys, override, field):
    assert main(["run", "--config", str(colour_site), "--validate", override]) == 2
    err = capsys.readouterr().err
    assert f"{field}: Input should be a finite number" in err and "Traceback" not in err


def test_a_key_given_twice_is_refused_naming_both_lines(colour_site, tmp_path):
    text = colour_site.read_text()
    twice = tmp_path / "twice.yaml"
    twice.write_text(text + "rules:\n  - {name: only-this, labels: [red]}\n")
    first = 1 + text.splitlines().index("rules:")
    with pytest.raises(ConfigError, match=rf"key 'rules' given twice \(first on line {first}\)"):
        load_site_config(twice)
    nested = tmp_path / "nested.yaml"
    nested.write_text("http:\n  port: 0\n  port: 8390\n")
    with pytest.raises(ConfigError, match=r"key 'port' given twice \(first on line 2\)"):
        load_site_config(nested)


def test_a_merge_key_may_still_override_what_it_merges(tmp_path):
    site = tmp_path / "merge.yaml"
    site.write_text("rules:\n  - &base {name: a, labels: [x], min_score: 0.5}\n  - <<: *base\n    name: b\n")
    assert [(r.name, r.min_score) for r in load_site_config(site).rules] == [("a", 0.5), ("b", 0.5)]


def test_deep_nesting_is_a_clean_refusal(tmp_path, capsys):
    deep = tmp_path / "deep.yaml"
    deep.write_text("rules: " + "[" * 20_000 + "]" * 20_000 + "\n")
    assert main(["run", "--config", str(deep), "--validate"]) == 2
    err = capsys.readouterr().err
    assert "nested too deeply" in err and "Traceback" not in err and "RecursionError" not in err


@pytest.mark.parametrize("event_type", ["fault+ball", "belt/#", "a/b", "a b"])
def test_event_types_that_cannot_be_one_topic_level_are_refused(event_type):
    rule = yaml.safe_dump([{"name": "r", "labels": ["x"], "event_type": event_type}], default_flow_style=True)
    with pytest.raises(ConfigError, match=r"rules\[0\].event_type: String should match pattern"):
        load_site_config(None, [f"rules={rule.strip()}"])


@pytest.mark.parametrize("topic", ["adit/+/events", "adit/#", "$SYS/adit", "adit\x00x"])
def test_mqtt_topics_that_cannot_be_published_to_are_refused(topic):
    with pytest.raises(ConfigError, match=r"sinks.mqtt.topic: String should match pattern"):
        load_site_config(None, [f"sinks.mqtt.topic={yaml.safe_dump(topic).splitlines()[0]}"])


def test_validate_prints_no_password(colour_site, capsys):
    data = yaml.safe_load(colour_site.read_text())
    data["sinks"]["webhook"] = {
        "url": "https://hook:web-s3cret@example.invalid/events",
        "headers": {"Authorization": "Bearer header-s3cret"},
    }
    data["sinks"]["mqtt"] = {"username": "edge", "password": "mqtt-s3cret"}
    data["http"]["token"] = "token-s3cret-0123456789"
    colour_site.write_text(yaml.safe_dump(data))
    # the camera is a stream: --validate opens no camera, so an unreachable URL is fine here
    assert (
        main(
            [
                "run",
                "--config",
                str(colour_site),
                "--validate",
                "cameras.0.source=rtsp://admin:cam-s3cret@10.0.0.9/s",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "s3cret" not in out
    assert "rtsp://admin:***@10.0.0.9/s" in out and "https://hook:***@example.invalid/events" in out
