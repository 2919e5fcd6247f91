"""Several source loads at once, the old one-load configs, and the rpm the order features need."""

import numpy as np
import pytest
from pydantic import ValidationError
from scipy.io import savemat

from edge_runtime.signal import SignalError
from train.signal.config import SignalDataConfig, SignalTrainConfig
from train.tasks.signal import Signal


def test_one_load_configs_read_as_a_list_of_one():
    assert SignalDataConfig.model_validate({"load": 2}).loads == [2]
    old = SignalDataConfig.model_validate({"load": 1, "shots": 5, "replay_load": 0})
    assert (old.loads, old.replay_loads) == ([1], [0])
    assert SignalDataConfig.model_validate({"loads": [1, 0]}).loads == [0, 1]
    with pytest.raises(ValidationError, match="data.load and data.loads both set"):
        SignalDataConfig.model_validate({"load": 0, "loads": [1]})
    with pytest.raises(ValidationError, match="distinct"):
        SignalDataConfig.model_validate({"loads": [1, 1]})
    with pytest.raises(ValidationError, match="replay_loads needs data.shots"):
        SignalTrainConfig.model_validate({"data": {"loads": [1], "replay_loads": [0]}})


def _config(**data) -> SignalTrainConfig:
    features = {"window": 1024, "hop": 512, "representation": "spectrum_envelope", "orders": (0.5, 30.0)}
    return SignalTrainConfig.model_validate({"data": data, "features": features})


def test_several_loads_train_together_each_recording_split_on_its_own():
    both = Signal().read_data(_config(loads=[0, 1]))
    alone = [Signal().read_data(_config(loads=[load])) for load in (0, 1)]
    for split in ("train", "val", "test"):
        windows = getattr(both, split)
        assert len(windows) == sum(len(getattr(a, split)) for a in alone)
        assert {w.source for w in windows} == {w.source for a in alone for w in getattr(a, split)}
    # each window carries its recording's shaft speed, the order features' input
    assert {w.rpm for w in both.train} == {1797.0, 1772.0}
    assert both.source == "synth loads 0, 1"


def test_order_features_refuse_recordings_without_rpm(tmp_path):
    values = np.random.default_rng(0).standard_normal(8192).astype(np.float32)
    savemat(tmp_path / "a.mat", {"X001_DE_time": values[:, None]})
    manifest = "file,label,load_hp,fs_hz,de_key\na.mat,normal,0,12000,X001_DE_time\n"
    (tmp_path / "manifest.csv").write_text(manifest)
    config = _config(source="cwru", root=tmp_path, loads=[0])
    with pytest.raises(SignalError, match="recordings a have no rpm; the spectrum_envelope representation"):
        Signal().read_data(config)
