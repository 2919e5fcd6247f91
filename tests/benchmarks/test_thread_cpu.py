"""Per-thread CPU accounting: each role gets the CPU its threads spent, a thread that ended included."""

from __future__ import annotations

import threading
import time

from benchmarks.thread_cpu import ThreadCpu


def _burn(cpu_s: float, then_wait_s: float = 0.0) -> None:
    """Spend ``cpu_s`` of this thread's CPU time, however loaded the machine is, then idle ``then_wait_s``
    (long enough for the sampler to see the total before the thread ends)."""
    end = time.thread_time() + cpu_s
    while time.thread_time() < end:
        pass
    time.sleep(then_wait_s)


def test_a_named_thread_s_cpu_is_its_role_s_even_after_it_ended():
    with ThreadCpu({"burner": "work"}, interval_s=0.01) as cpu:
        started = time.monotonic()
        worker = threading.Thread(target=_burn, args=(0.4, 0.5), name="burner")
        worker.start()
        worker.join()
        time.sleep(0.05)  # a few samples after the thread is gone
        ended = time.monotonic()
        _burn(0.3)  # after the window: not counted
    spent = cpu.seconds(started, ended)
    assert 0.3 <= spent["work"] <= 0.5  # 0.4 s, give or take a clock tick at each end
    assert spent.get("caller", 0.0) < 0.15  # the caller only waited inside the window
    assert "sampler" not in spent
