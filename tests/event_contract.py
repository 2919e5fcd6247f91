"""Every event the daemon emits during the tests is checked against the published schema.

In-process pipelines, machine monitors and camera-health monitors are checked as they emit (a
violation fails that test).
Daemons run as child processes write their events to JSONL sinks under pytest's temporary folders:
each test's ``tmp_path`` is scanned when it ends, and every other temporary folder when the session
ends (a violation there fails the run). The check uses ``jsonschema`` on docs/events/event.schema.json,
not the pydantic models it is generated from, so it checks what consumers will read.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from edge_runtime.health import CameraHealth
from edge_runtime.inference import Pipeline
from edge_runtime.signal_monitor import SignalMonitor

SCHEMA = Path(__file__).resolve().parent.parent / "docs" / "events" / "event.schema.json"
_VALIDATOR = Draft202012Validator(json.loads(SCHEMA.read_text()))
CHECKED: Counter[str] = Counter()  # events validated this session, by kind
_SCANNED: set[Path] = set()
_LATE: list[str] = []  # violations found at the session's end


def contract_errors(event: dict[str, Any]) -> list[str]:
    """What is wrong with one event against the published schema (empty when it conforms)."""
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '(event)'}: {error.message}"
        for error in sorted(_VALIDATOR.iter_errors(event), key=lambda e: list(map(str, e.absolute_path)))
    ]


def check_event(event: dict[str, Any], where: str = "") -> None:
    errors = contract_errors(event)
    if errors:
        raise AssertionError(
            f"{where}event breaks {SCHEMA.name}: {'; '.join(errors[:3])}\n{json.dumps(event)}"
        )
    CHECKED[event["kind"]] += 1


def _is_event(item: object) -> bool:
    return isinstance(item, dict) and {"id", "phase", "camera", "rule"} <= item.keys()


def scan(folder: Path) -> list[str]:
    """Validate the event lines of every JSONL file under ``folder`` not scanned before."""
    problems = []
    for path in sorted(folder.rglob("*.jsonl")):
        if path in _SCANNED or not path.is_file():
            continue
        _SCANNED.add(path)
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a kill -9 test; the sink tests judge those
            if _is_event(item):
                try:
                    check_event(item, f"{path}:{number}: ")
                except AssertionError as exc:
                    problems.append(str(exc))
    return problems


@pytest.fixture(autouse=True)
def _events_follow_the_contract(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    deliver, send, health_event = Pipeline.deliver, SignalMonitor._send, CameraHealth._event

    def checked_deliver(self: Pipeline, events: Any, *args: Any) -> None:
        for event in events:
            check_event(json.loads(event.to_json()))
        deliver(self, events, *args)

    def checked_send(self: SignalMonitor, events: Any) -> None:
        for event in events:
            check_event(json.loads(event.to_json()))
        send(self, events)

    def checked_health_event(self: CameraHealth, *args: Any) -> Any:
        event = health_event(self, *args)  # unit tests feed a monitor directly, not through a pipeline
        check_event(json.loads(event.to_json()))
        return event

    monkeypatch.setattr(Pipeline, "deliver", checked_deliver)
    monkeypatch.setattr(CameraHealth, "_event", checked_health_event)
    monkeypatch.setattr(SignalMonitor, "_send", checked_send)
    # asked for now, so that tmp_path is torn down after the scan below
    folder = request.getfixturevalue("tmp_path") if "tmp_path" in request.fixturenames else None
    yield
    if folder is not None:
        problems = scan(folder)
        assert not problems, "\n".join(problems[:5])


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None:
        return
    try:
        base = factory.getbasetemp()
    except (OSError, ValueError):
        return
    _LATE.extend(scan(base))
    if _LATE:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if CHECKED or _LATE:
        counts = ", ".join(f"{kind} {n}" for kind, n in sorted(CHECKED.items())) or "none"
        terminalreporter.write_line(f"events checked against docs/events/{SCHEMA.name}: {counts}")
    for problem in _LATE[:10]:
        terminalreporter.write_line(f"EVENT CONTRACT VIOLATION: {problem}", red=True)
