"""Frame age counts from when a live camera would have delivered the frame, not from early decoding."""

import numpy as np
import pytest

from benchmarks.pipeline import _Arrivals
from edge_runtime.sources import Frame


def _frame(camera: str, ts: float, pts_s: float) -> Frame:
    return Frame(camera=camera, index=0, ts=ts, pts_s=pts_s, image=np.zeros((1, 1, 3), np.uint8))


def test_a_frame_decoded_ahead_of_its_time_arrives_when_it_is_due():
    arrivals = _Arrivals()
    assert arrivals.arrival(_frame("a", ts=100.0, pts_s=0.0)) == pytest.approx(100.0)
    # decoded 50 ms before it is due (real-time pacing holds it back): it arrives when due
    assert arrivals.arrival(_frame("a", ts=100.017, pts_s=0.0667)) == pytest.approx(100.0667)
    # decoded late (the box fell behind): it arrives when decoded
    assert arrivals.arrival(_frame("a", ts=100.2, pts_s=0.1333)) == pytest.approx(100.2)
    # each camera has its own clock
    assert arrivals.arrival(_frame("b", ts=50.0, pts_s=3.0)) == pytest.approx(50.0)
