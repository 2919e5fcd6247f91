"""Operator feedback on machine events -> labelled windows -> the few-shot training step, end to end."""

import json

import numpy as np

from edge_runtime.config.machines import MachineConfig
from edge_runtime.config.rules import RuleConfig
from edge_runtime.signal_monitor import SignalMonitor, verify_machine
from edge_runtime.signal_source import open_samples
from edge_runtime.siteloop.__main__ import main as siteloop
from edge_runtime.siteloop.signal_windows import EventWindows
from edge_runtime.web.acks import AckStore
from train.__main__ import main as train
from train.checkpoint import read_checkpoint
from train.signal.config import SignalTrainConfig
from train.signal.synth import SynthSettings, bearing_signal
from train.tasks.signal import Signal

CLASSES = ["normal", "ball", "inner_race", "outer_race"]
EVERY_CLASS = RuleConfig(name="any-class", labels=CLASSES, min_score=0.0)


def _events_with_windows(bundle, folder, tmp_path) -> list[tuple[str, str]]:
    """(event id, the class really running) of each machine event's start; windows kept in ``folder``."""
    started = []
    for seed, truth in enumerate(("ball", "inner_race", "outer_race", "ball")):
        source = tmp_path / f"{truth}-{seed}.npy"
        np.save(source, bearing_signal(truth, 1, seed=50 + seed, settings=SynthSettings(seconds=0.5)))
        machine = MachineConfig(name="fan-3", source=str(source), realtime=False, bundle=bundle, rpm=1772.0)
        raised = []
        monitor = SignalMonitor(machine, verify_machine(machine, 0), [EVERY_CLASS], raised.extend,
                                windows=EventWindows(folder))  # fmt: skip
        for chunk in open_samples(machine.source, monitor.spec, realtime=False):
            monitor.process(chunk)
        monitor.finish()
        started += [(e.id, e.label, truth) for e in raised if e.phase == "start"]
    return started


def test_feedback_on_machine_events_trains_the_few_shot_step(speed_signal_run, speed_signal_bundle, tmp_path):
    folder = tmp_path / "captures" / "windows" / "fan-3"
    started = _events_with_windows(speed_signal_bundle, folder, tmp_path)
    assert len(started) == 4 and len(list(folder.glob("*.npy"))) == 4
    acks = AckStore(tmp_path / "acks.sqlite")
    for event_id, said, truth in started[:3]:  # the operator answers three; the fourth has no feedback
        acks.give_feedback(event_id, "relabel", "op", label=truth, event_label=said)
    acks.close()
    npz = tmp_path / "feedback.npz"
    acks_file = str(tmp_path / "acks.sqlite")
    args = ["--windows", str(folder), "--acks", acks_file, "--bundle", str(speed_signal_bundle)]
    assert siteloop(["signal-export", *args, "--out", str(npz)]) == 0
    exported = np.load(npz)
    assert list(exported["labels"]) == [truth for _, _, truth in started[:3]]
    assert exported["x"].shape == (3, 1024) and np.allclose(exported["rpm"], 1772.0)

    # the few-shot step: from the deployed bundle's checkpoint, on the labelled windows plus a replay
    run = read_checkpoint(speed_signal_run / "best.pt").meta.config
    overrides = [f"features.{k}={json.dumps(v)}" for k, v in run["features"].items()]
    data = ["data.loads=[1]", f"data.feedback={npz}", "data.shots=1", "data.replay_loads=[0]"]
    out = tmp_path / "few-shot"
    model = ["model.name=signal_spectrum_cnn", "model.weights=none", "few_shot.steps=2"]
    start = [f"out={out}", f"init_from={speed_signal_bundle}"]
    assert train(["fit", "task=signal", *start, *model, *data, *overrides]) == 0
    config = SignalTrainConfig.model_validate(read_checkpoint(out / "best.pt").meta.config)
    assert config.data.feedback == npz
    # the transfer follow-ups' few-shot recipe (train.signal.fewshot): its steps, the last weights kept
    assert (config.optim.keep, config.optim.epochs, config.optim.lr) == ("last", 2, config.few_shot.lr)
    trained_on = Signal().read_data(config).train
    assert len(trained_on) == 3 + 4  # the three labelled windows, one replayed 0 HP window per class
    assert np.array_equal(trained_on[0].x, exported["x"][0])
    assert (out / "metrics.json").is_file()


def test_a_false_alarm_is_a_normal_window_only_when_asked(speed_signal_bundle, tmp_path):
    folder = tmp_path / "windows"
    started = _events_with_windows(speed_signal_bundle, folder, tmp_path)
    acks = AckStore(tmp_path / "acks.sqlite")
    acks.give_feedback(started[0][0], "false_alarm", "op", event_label=started[0][1])
    acks.give_feedback(started[1][0], "confirmed", "op", event_label=started[1][1])
    acks.close()
    args = ["signal-export", "--windows", str(folder), "--acks", str(tmp_path / "acks.sqlite"),
            "--bundle", str(speed_signal_bundle)]  # fmt: skip
    assert siteloop([*args, "--out", str(tmp_path / "a.npz")]) == 0
    assert list(np.load(tmp_path / "a.npz")["labels"]) == [started[1][1]]
    assert siteloop([*args, "--out", str(tmp_path / "b.npz"), "--normal-label", "normal"]) == 0
    assert list(np.load(tmp_path / "b.npz")["labels"]) == ["normal", started[1][1]]
    assert siteloop([*args, "--out", str(tmp_path / "c.npz"), "--normal-label", "healthy"]) == 2
