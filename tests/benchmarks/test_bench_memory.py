"""Peak memory is the peak inside the block, not what is still held when it ends."""

import sys

import numpy as np
import pytest

from edge_runtime.measure.memory import peak_rss_delta


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM and clear_refs are Linux's")
def test_a_freed_allocation_still_counts_as_the_peak():
    with peak_rss_delta() as memory:
        block = np.ones(100 * 2**20 // 8)  # 100 MiB, touched
        del block
    assert memory.delta_mb is not None and 90 <= memory.delta_mb <= 400
    with peak_rss_delta() as idle:
        pass
    assert idle.delta_mb is not None and idle.delta_mb < 50  # the previous peak was reset
