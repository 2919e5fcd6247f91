"""Bad site configurations and manifests: every one is a ConfigError/BundleError naming the field,
never a traceback. The named cases show the messages; hypothesis then throws everything else at
the parsers (random YAML documents, overrides, manifests, bytes)."""

from __future__ import annotations

import json

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_runtime.bundle import MANIFEST_NAME, Manifest, read_manifest
from edge_runtime.config import SiteConfig, load_site_config
from edge_runtime.errors import BundleError, ConfigError

BASE = {
    "model": {"bundle": "b"},
    "cameras": [{"name": "cam1", "source": "v.avi"}],
    "rules": [{"name": "r", "labels": ["person"], "zone": [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9]]}],
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"cameras": [{"name": "cam1", "source": "v.avi", "stride": "fast"}]},
            "cameras[0].stride: Input should be a valid integer",
        ),
        ({"camras": []}, "camras: Extra inputs are not permitted"),
        ({"http": {"port": 70000}}, "http.port: Input should be less than 65536"),
        ({"outbox": {"max_events": 0}}, "outbox.max_events: Input should be greater than 0"),
        ({"snapshots": {"quota_mb": -1}}, "snapshots.quota_mb: Input should be greater than 0"),
        ({"watchdog": {"stall_s": 0}}, "watchdog.stall_s: Input should be greater than 0"),
        ({"cameras": []}, "a site needs at least one camera or machine"),
        (
            {"rules": [{"name": "r", "labels": ["p"], "zone": [[0.1, 0.1], [1.4, 0.1], [0.9, 0.9]]}]},
            "rules[0].zone[1][0]: Input should be less than or equal to 1",
        ),
        (
            {"rules": [{"name": "r", "labels": ["p"], "zone": [[0.1, 0.1], [0.5, 0.5], [0.9, 0.9]]}]},
            "zone: its points lie on one line",
        ),
        (
            {"rules": [{"name": "r", "labels": ["p"], "tripwire": {"line": [[0.5, -0.2], [0.5, 1.0]]}}]},
            "rules[0].tripwire.line[0][1]: Input should be greater than or equal to 0",
        ),
        (
            {"rules": [{"name": "r", "labels": ["p"], "tripwire": {"line": [[0.5, 0.5], [0.5, 0.5]]}}]},
            "a tripwire needs two distinct points",
        ),
        ({"sinks": {"mqtt": {"port": "mqtt"}}}, "sinks.mqtt.port: Input should be a valid integer"),
        ({"sinks": {"webhook": {"url": "ftp://x"}}}, "sinks.webhook.url: String should match pattern"),
        ({"opcua": {"enabled": True, "port": 70000}}, "opcua.port: Input should be less than 65536"),
        ({"opcua": {"update_every_s": 0}}, "opcua.update_every_s: Input should be greater than 0"),
        ({"opcua": {"endpoint": "x"}}, "opcua.endpoint: Extra inputs are not permitted"),
        (
            {"sinks": {"mqtt": {"state": {"topic": "a/#"}}}},
            "sinks.mqtt.state.topic: String should match pattern",
        ),
        (
            {"rules": [{"name": "r", "labels": ["p"], "severity": "high"}]},
            "rules[0].severity: Input should be 'info'",
        ),
    ],
)
def test_a_bad_site_file_names_the_field(tmp_path, change, message):
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(BASE | change))
    with pytest.raises(ConfigError) as caught:
        load_site_config(path)
    assert message in str(caught.value) and str(path) in str(caught.value)


FIELDS = [
    "model",
    "cameras",
    "rules",
    "sinks",
    "outbox",
    "http",
    "snapshots",
    "watchdog",
    "name",
    "source",
    "labels",
    "zone",
    "tripwire",
    "line",
    "port",
    "path",
    "stride",
    "min_score",
    "debounce",
    "hits",
    "window",
    "jsonl",
    "mqtt",
    "webhook",
    "url",
    "tls",
    "password",
    "quota_mb",
    "stall_s",
    "bundle",
]
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=True)
    | st.text(max_size=12)
)
documents = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=6), inner, max_size=5)
    ),
    max_leaves=25,
)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(document=documents)
def test_any_yaml_document_is_a_site_or_a_config_error(tmp_path, document):
    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump(document))
    try:
        assert isinstance(load_site_config(path), SiteConfig)
    except ConfigError:
        pass


@FUZZ
@given(data=st.text(max_size=200).map(lambda t: t.encode("utf-8", "replace")) | st.binary(max_size=200))
def test_any_file_is_a_site_or_a_config_error(tmp_path, data):
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(data)
    try:
        assert isinstance(load_site_config(path), SiteConfig)
    except ConfigError as error:
        assert str(path) in str(error)  # the message names the file it could not read


dotted = st.lists(st.sampled_from(FIELDS) | st.sampled_from(["0", "1", "x"]), min_size=1, max_size=4).map(
    ".".join
)


@FUZZ
@given(overrides=st.lists(st.tuples(dotted, st.text(max_size=20)).map("=".join), max_size=4))
def test_any_overrides_give_a_site_or_a_config_error(overrides):
    try:
        assert isinstance(load_site_config(None, overrides), SiteConfig)
    except ConfigError as error:
        # names the bad override, or the field paths it broke; any other exception fails the test
        assert "override" in str(error) or "invalid configuration" in str(error)


MANIFEST_FIELDS = [
    "schema",
    "name",
    "task",
    "classes",
    "input",
    "size",
    "artifacts",
    "file",
    "sha256",
    "bytes",
    "format",
    "precision",
    "weights",
    "mean",
    "std",
    "layout",
    "postprocess",
    "status",
]
manifests = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(MANIFEST_FIELDS) | st.text(max_size=6), inner, max_size=6)
    ),
    max_leaves=25,
)


@FUZZ
@given(document=manifests)
def test_any_manifest_json_is_a_manifest_or_a_bundle_error(tmp_path, document):
    (tmp_path / MANIFEST_NAME).write_text(json.dumps(document))
    try:
        assert isinstance(read_manifest(tmp_path), Manifest)
    except BundleError:
        pass


@FUZZ
@given(data=st.binary(max_size=300))
def test_any_bytes_as_manifest_are_a_bundle_error(tmp_path, data):
    (tmp_path / MANIFEST_NAME).write_bytes(data)
    with pytest.raises(BundleError):
        read_manifest(tmp_path)
