"""Site configuration: defaults, overrides, and errors that name the field's YAML path and the file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edge_runtime.cli import main
from edge_runtime.config import load_site_config
from edge_runtime.errors import ConfigError

DEMO = Path(__file__).parents[2] / "configs" / "site-demo.yaml"


def test_demo_config_loads_and_overrides_apply_before_validation():
    config = load_site_config(DEMO, ["model.artifact=openvino-int8", "cameras.0.stride=2", "model.threads=2"])
    assert (config.model.artifact, config.cameras[0].stride, config.model.threads) == ("openvino-int8", 2, 2)
    assert {label for rule in config.rules for label in rule.labels} == {
        "foreign_object",
        "person_near_belt",
        "oversized_lump",
        "empty_belt",
    }
    assert config.sinks.jsonl.path == Path("runs/demo/events/events.jsonl")


def test_defaults_alone_are_a_valid_demo_site():
    config = load_site_config(None)
    assert config.cameras[0].source == "runs/demo/data/video/belt.avi" and config.model.device == "CPU"
    assert config.rules == []


def test_event_type_defaults_to_the_rule_name():
    config = load_site_config(None, ["rules=[{name: r1, labels: [a]}]"])
    assert config.rules[0].type == "r1" and config.rules[0].debounce.hits == 3


def test_bad_value_exits_2_naming_the_field_path_and_file(colour_site, capsys):
    assert main(["run", "--config", str(colour_site), "cameras.0.stride=0"]) == 2
    err = capsys.readouterr().err
    assert "cameras[0].stride: Input should be greater than 0" in err
    assert str(colour_site) in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("cameras.0.strides=2", "cameras[0].strides: Extra inputs are not permitted"),
        ("rules.0.min_score=1.5", "rules[0].min_score: Input should be less than or equal to 1"),
        ("rules.0.debounce.hits=9", "rules[0].debounce: Value error, hits (9) cannot exceed window (5)"),
        ("rules.1.camera=cam9", "rules[1].camera: no camera 'cam9'; the cameras are: cam1"),
        (
            "cameras=[{name: a, source: x}, {name: a, source: y}]",
            "cameras: names must be unique; repeated: a",
        ),
        ("model.artifact=ONNX", "model.artifact: String should match pattern"),
    ],
)
def test_invalid_values_are_refused_with_their_path(colour_site, override, message):
    with pytest.raises(ConfigError) as caught:
        load_site_config(colour_site, [override])
    assert message in str(caught.value)


def test_rule_labels_are_checked_against_the_bundle_classes(colour_site, capsys):
    assert main(["run", "--config", str(colour_site), "--validate", "rules.0.labels=[red, purple]"]) == 2
    err = capsys.readouterr().err
    assert "rules[0].labels: 'purple' not among the bundle's classes; valid: red, green, blue" in err


def test_validate_checks_config_and_bundle_without_running(colour_site, capsys):
    assert main(["run", "--config", str(colour_site), "--validate"]) == 0
    assert "OK:" in capsys.readouterr().out


def test_missing_file_and_bad_yaml_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_site_config(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("cameras: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_site_config(bad)
    bad.write_text(yaml.safe_dump(["a", "list"]))
    with pytest.raises(ConfigError, match="mapping"):
        load_site_config(bad)


@pytest.mark.parametrize("path", sorted(DEMO.parent.glob("site-*.yaml")), ids=lambda p: p.name)
def test_every_example_site_config_validates_and_hides_its_secrets(path):
    config = load_site_config(path)
    dumped = str(config.model_dump(mode="json"))
    # password and header are SecretStr, masked; a camera URL's password is redacted by /status itself
    urls = sum(f"{camera.source} {camera.sub_stream}".count("CHANGE-ME") for camera in config.cameras)
    assert dumped.count("CHANGE-ME") == urls


def test_a_zone_on_a_classification_bundle_is_refused(colour_site, capsys):
    zone = "rules.0.zone=[[0, 0], [1, 0], [1, 1]]"
    assert main(["run", "--config", str(colour_site), "--validate", zone]) == 2
    assert "rules[0]: zone and tripwire need a detect bundle" in capsys.readouterr().err


def test_a_site_may_have_only_machines_and_rules_may_watch_them():
    machine = "machines=[{name: drive-1, source: d.npy, bundle: b}]"
    config = load_site_config(None, [machine, "rules=[{name: r, camera: drive-1, labels: [ball]}]"])
    assert config.cameras == [] and config.sources == ["drive-1"]
    with pytest.raises(ConfigError, match="cameras and machines: names must be unique; repeated: belt"):
        load_site_config(None, ["cameras=[{name: belt, source: v.avi}]", machine.replace("drive-1", "belt")])
    with pytest.raises(ConfigError, match="a site needs at least one camera or machine"):
        load_site_config(None, ["cameras=[]"])
    with pytest.raises(
        ConfigError, match="no camera 'drive-2'; the cameras are: none; the machines: drive-1"
    ):
        load_site_config(None, [machine, "rules=[{name: r, camera: drive-2, labels: [ball]}]"])
