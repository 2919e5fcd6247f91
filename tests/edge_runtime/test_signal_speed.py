"""A shaft-speed normalised bundle on the device: the rpm from the machine's setting or its source."""

import numpy as np
import pytest

from edge_runtime.config.machines import MachineConfig
from edge_runtime.config.rules import RuleConfig
from edge_runtime.signal import SignalError
from edge_runtime.signal_monitor import replay_machine, verify_machine
from train.signal.stream import synthetic_stream

ANY_CLASS = RuleConfig(name="any-class", labels=["normal", "ball", "inner_race", "outer_race"], min_score=0.0)


@pytest.fixture
def samples() -> np.ndarray:
    return synthetic_stream(seconds_each=1.0)  # 1 HP: 1772 rpm


def _machine(bundle, source, **settings) -> MachineConfig:
    return MachineConfig(name="fan-3", source=str(source), realtime=False, bundle=bundle, **settings)


def test_a_machine_without_an_rpm_is_refused_naming_it(speed_signal_bundle, samples, tmp_path):
    np.save(tmp_path / "run.npy", samples)
    wanted = r"machines\[0\] \(fan-3\): .* needs the shaft speed.*machines\[0\]\.rpm"
    with pytest.raises(SignalError, match=wanted):
        verify_machine(_machine(speed_signal_bundle, tmp_path / "run.npy"), 0)


def test_the_rpm_comes_from_the_setting_or_the_source_column(speed_signal_bundle, samples, tmp_path):
    np.save(tmp_path / "run.npy", samples)
    rows = "".join(f"{v!r},1772\n" for v in samples.tolist())
    (tmp_path / "run.csv").write_text("accel,rpm\n" + rows)
    constant = _machine(speed_signal_bundle, tmp_path / "run.npy", rpm=1772.0)
    configured, _ = replay_machine(constant, [ANY_CLASS])
    readings = []
    from_column, _ = replay_machine(
        _machine(speed_signal_bundle, tmp_path / "run.csv"), [ANY_CLASS], observe=readings.append
    )
    assert configured.windows == from_column.windows == len(readings) > 0
    assert configured.last is not None and from_column.last is not None
    assert configured.last.label == from_column.last.label
    assert configured.invalid == from_column.invalid == 0
