"""An error in a machine's rules or delivery: counted, shown as the machine's health, logged sparingly, and
the machine's thread goes on watching the next windows.

Before: ``MachineThread`` caught only ``SignalError`` and ``OSError``, so such an error ended the machine's
thread while the daemon ran on: the machine was no longer watched, and /healthz stayed green. The model,
the vibration file (replayed in real time) and the daemon's HTTP endpoint are real; the fault is a rule
(or the delivery of a machine's events) that raises while the test says so.
"""

from __future__ import annotations

import json
import logging
import re
import threading

import numpy as np
import yaml
from daemon_helpers import free_port, http_get, wait_until

from edge_runtime.config import load_site_config
from edge_runtime.config.machines import MachineConfig
from edge_runtime.config.rules import RuleConfig
from edge_runtime.events import Event
from edge_runtime.inference import PipelineSummary
from edge_runtime.machine_thread import MachineThread
from edge_runtime.pipeline import run
from edge_runtime.rules import RuleSet
from edge_runtime.signal_monitor import SignalMonitor, verify_machine
from train.signal.stream import synthetic_stream

ALL_LABELS = ["normal", "ball", "inner_race", "outer_race"]


def _machine_site(tmp_path, signal_bundle) -> dict:
    source = tmp_path / "drive.npy"
    np.save(source, synthetic_stream(seconds_each=30.0))  # a minute in real time: the test stops it sooner
    return {
        "machines": [
            {"name": "fan-3", "source": str(source), "bundle": str(signal_bundle), "realtime": True}
        ],
        "rules": [{"name": "any", "camera": "fan-3", "labels": ALL_LABELS, "min_score": 0.0}],
        "sinks": {"jsonl": {"path": str(tmp_path / "events.jsonl")}},
        "outbox": {"path": str(tmp_path / "outbox.sqlite")},
        "http": {"port": free_port()},
    }


def _answers(url: str) -> bool:
    try:
        return http_get(f"{url}/status")[0] == 200
    except OSError:  # not listening yet
        return False


def test_a_machine_whose_rules_raise_is_red_counted_and_still_watched(
    signal_bundle, tmp_path, monkeypatch, caplog
):
    broken = threading.Event()
    evaluate = RuleSet.evaluate

    def flaky(self, frame, prediction, on_error=None):  # the rules step failing on some windows
        if broken.is_set():
            raise KeyError("zone")
        return evaluate(self, frame, prediction, on_error)

    monkeypatch.setattr(RuleSet, "evaluate", flaky)
    site = tmp_path / "site.yaml"
    data = _machine_site(tmp_path, signal_bundle)
    site.write_text(yaml.safe_dump(data))
    config = load_site_config(site)
    url = f"http://127.0.0.1:{config.http.port}"
    stop, summaries = threading.Event(), list[PipelineSummary]()
    daemon = threading.Thread(target=lambda: summaries.append(run(config, stop)), daemon=True)

    def machine() -> dict:
        return json.loads(http_get(f"{url}/status")[1])["machines"]["fan-3"]

    def healthz() -> tuple[int, dict]:
        code, body = http_get(f"{url}/healthz")
        return code, json.loads(body)["machines"]["fan-3"]

    caplog.set_level(logging.ERROR, logger="edge_runtime.machine_thread")
    daemon.start()
    try:
        assert wait_until(lambda: _answers(url), timeout_s=60), "the daemon's HTTP endpoint never answered"
        assert wait_until(lambda: machine()["windows"] > 0, timeout_s=60), "the machine never classified"
        broken.set()
        assert wait_until(lambda: machine()["errors"] >= 3, timeout_s=30), machine()
        code, health = healthz()
        assert code != 200 and not health["ok"] and "KeyError" in health["error"], health
        metrics = http_get(f"{url}/metrics")[1].decode()
        assert 'adit_machine_errors_total{machine="fan-3"}' in metrics
        assert machine()["last_error"] == "KeyError: 'zone'"
        tracebacks = [r for r in caplog.records if r.exc_info is not None]
        # the first with its traceback, then at most one line a minute
        assert len(tracebacks) == 1 and "fan-3" in tracebacks[0].getMessage()
        broken.clear()
        windows = machine()["windows"]
        assert wait_until(lambda: machine()["windows"] > windows + 4, timeout_s=30), "not watched any more"
        assert wait_until(lambda: healthz()[1]["ok"], timeout_s=30), healthz()
        assert daemon.is_alive()
    finally:
        stop.set()
        daemon.join(30)
    (summary,) = summaries
    state = summary.machines["fan-3"]
    assert state["errors"] >= 3 and state["error"] is None and state["last_error"] == "KeyError: 'zone'"


def test_a_delivery_that_raises_skips_that_chunk_and_the_thread_goes_on(signal_bundle, tmp_path):
    source = tmp_path / "drive.npy"
    np.save(source, synthetic_stream(seconds_each=1.0))
    machine = MachineConfig(name="fan-3", source=str(source), realtime=False, bundle=signal_bundle)
    delivered: list[Event] = []
    refusing = [True]

    def deliver(events) -> None:  # the outbox refusing the first batch (not an OSError)
        if refusing[0]:
            refusing[0] = False
            raise ValueError("cannot serialise extra['x']")
        delivered.extend(events)

    rules = [
        RuleConfig(name=x, camera="fan-3", labels=[x], min_score=0.0, debounce={"hits": 1, "window": 1})
        for x in ALL_LABELS
    ]
    monitor = SignalMonitor(machine, verify_machine(machine, 0), rules, deliver)
    thread = MachineThread(monitor, threading.Event(), threading.Event())
    thread.start()
    thread.join(60)
    thread.finish()
    assert not thread.is_alive() and monitor.ended
    assert monitor.errors == 1 and monitor.last_error == "ValueError: cannot serialise extra['x']"
    assert monitor.error is None  # later chunks went through: the machine is healthy again
    # only the refused chunk's later windows (two at most) were skipped: every later one was classified
    total = (len(np.load(source)) - monitor.spec.window) // monitor.spec.hop + 1
    assert total - 2 <= monitor.windows <= total
    assert delivered and delivered[-1].phase == "end"


def test_one_raising_rule_leaves_the_other_rules_events_and_fails_only_its_chunks(
    signal_bundle, tmp_path, monkeypatch
):
    """Before, a rule that raised on a window ended the chunk: every rule's events of the chunk's later
    windows were lost. Now the other rules see every window; the chunk counts as failed, naming the rule."""
    source = tmp_path / "drive.npy"
    np.save(source, synthetic_stream(seconds_each=1.0))
    machine = MachineConfig(name="fan-3", source=str(source), realtime=False, bundle=signal_bundle)
    rules = [
        RuleConfig(name=name, camera="fan-3", labels=ALL_LABELS, min_score=0.0, debounce={"hits": 1})
        for name in ("buggy", "sound")
    ]
    monitor = SignalMonitor(machine, verify_machine(machine, 0), rules, lambda events: None)
    buggy, sound = monitor.rules.rules
    update = type(buggy).update
    seen: list[int] = []

    def update_or_raise(self, frame, prediction):
        if self is buggy and frame.index >= 1:  # a bug that shows from the second window on
            raise KeyError("zone")
        if self is sound:
            seen.append(frame.index)
        return update(self, frame, prediction)

    monkeypatch.setattr(type(buggy), "update", update_or_raise)
    thread = MachineThread(monitor, threading.Event(), threading.Event())
    thread.start()
    thread.join(60)
    assert not thread.is_alive()
    assert seen == list(range(monitor.windows)) and monitor.windows > 2  # the sound rule saw every window
    assert monitor.errors >= 1 and monitor.last_error is not None
    failure = r"RulesError: fan-3: the rule 'buggy' failed on window \d+ \(KeyError: 'zone'\)"
    assert re.match(failure, monitor.last_error)
    assert monitor.error is not None  # its last chunk failed too: still shown failing, not "works again"
