"""CPU time of this process by thread role over a window: where a pipeline's CPU per frame goes.

The CPU bound adds up what decoding, preprocessing and inference cost each alone; end to end runs below
it. This says by how much each thread of the replay ran over its stages: the reading thread (decode
and preprocessing, one frame ahead), the inference loop (the caller: hand-over, decoding outputs, rules,
delivery) and the runtime's own threads (every thread without Python, e.g. OpenVINO's streams).

Linux only: per-thread times come from ``/proc/self/task/<tid>/stat`` (clock ticks, 10 ms), sampled on a
thread of its own every ``interval_s``; a window's figure is the difference of the two samples nearest its
ends, so the error is about a tick per thread and end.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")
TASKS = Path("/proc/self/task")


@dataclass
class _Sample:
    at: float  # time.monotonic()
    ticks: dict[int, int]  # thread id -> user + system clock ticks so far


@dataclass
class ThreadCpu:
    """``with ThreadCpu(roles) as cpu: ...`` then ``cpu.seconds(start, end)`` by role.

    ``roles`` maps a Python thread's name to its role; the thread that entered the block is ``caller``,
    threads without Python are ``runtime``, other Python threads ``other``."""

    roles: dict[str, str]
    interval_s: float = 0.02
    _samples: list[_Sample] = field(default_factory=list)
    _role: dict[int, str] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> ThreadCpu:
        self._role[threading.get_native_id()] = "caller"
        self._sample()  # the window may start at once
        self._thread = threading.Thread(target=self._sample_until_stopped, name="thread-cpu", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()

    def seconds(self, start: float, end: float) -> dict[str, float]:
        """CPU seconds per role between the monotonic times ``start`` and ``end`` (this sampler's own aside).

        A thread born in the window counts from 0; one that ended in it, up to its last sample."""
        before: dict[int, int] = {}
        until: dict[int, int] = {}
        for sample in self._samples:
            if sample.at <= start:
                before, until = sample.ticks, dict(sample.ticks)
            elif sample.at <= end:
                until.update(sample.ticks)
        spent: dict[str, float] = {}
        for tid, ticks in until.items():
            role = self._role.get(tid, "runtime")
            if role != "sampler":
                spent[role] = spent.get(role, 0.0) + (ticks - before.get(tid, 0)) * TICK_S
        return spent

    def _sample_until_stopped(self) -> None:
        self._role[threading.get_native_id()] = "sampler"
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval_s)

    def _sample(self) -> None:
        for thread in threading.enumerate():
            if thread.native_id is not None and thread.native_id not in self._role:
                self._role[thread.native_id] = self.roles.get(thread.name, "other")
        ticks = {}
        for task in TASKS.iterdir():
            try:
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # the thread ended between listing and reading
                continue
            ticks[int(task.name)] = int(fields[11]) + int(fields[12])
        self._samples.append(_Sample(time.monotonic(), ticks))
