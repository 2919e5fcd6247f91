"""A stream's capture times show its decoding backlog; slots pick ``fps`` frames a second, evenly."""

from __future__ import annotations

import pytest

from edge_runtime.frameclock import Slots, StreamClock

FRAME_S = 0.04  # 25 fps


def test_a_backlog_shows_as_the_distance_between_arrival_and_capture():
    clock = StreamClock()
    # 50 frames arrive on time (20 ms after capture), then decoding falls 10 ms further behind per frame
    arrivals = [100.02 + i * FRAME_S for i in range(50)] + [102.02 + i * (FRAME_S + 0.01) for i in range(50)]
    captured = [clock.capture_time(arrival, i * FRAME_S) for i, arrival in enumerate(arrivals)]
    backlog = [arrival - capture for arrival, capture in zip(arrivals, captured, strict=True)]
    assert max(backlog[:50]) == pytest.approx(0.0, abs=1e-9)
    assert backlog[-1] == pytest.approx(49 * 0.01, abs=1e-6)  # capture time stays on the stream's pace
    assert captured[-1] == pytest.approx(100.02 + 99 * FRAME_S, abs=1e-6)


def test_a_burst_at_connect_is_not_taken_for_a_backlog_once_frames_flow():
    clock = StreamClock()
    # the first second of frames arrives at once (the server's buffer), then frames arrive on time
    burst = [clock.capture_time(50.0, i * FRAME_S) for i in range(25)]
    steady = [clock.capture_time(50.0 + (i - 24) * FRAME_S, i * FRAME_S) for i in range(25, 60)]
    assert burst[0] == pytest.approx(50.0)  # nothing to compare with yet: arrival
    assert steady[-1] == pytest.approx(50.0 + 35 * FRAME_S)  # on time: capture == arrival


def test_timestamps_that_jump_or_stand_still_start_afresh():
    clock = StreamClock()
    for i in range(10):
        clock.capture_time(10.0 + i * FRAME_S, 500.0 + i * FRAME_S)
    # the camera restarted (timestamps from 0 again) while arriving late: not a negative backlog
    assert clock.capture_time(10.5, 0.0) == pytest.approx(10.5)
    # a stream without timestamps: every frame counts as captured on arrival
    assert [clock.capture_time(20.0 + i, 0.0) for i in range(3)] == pytest.approx([20.0, 21.0, 22.0])


def test_a_camera_clock_slower_than_the_box_does_not_build_up_a_false_backlog():
    clock = StreamClock(window_s=10.0)
    # stream time runs 1 % slow: after 60 s of arrivals the stream says 59.4 s
    backlog = 0.0
    for i in range(1500):
        arrival = 1000.0 + i * FRAME_S
        backlog = arrival - clock.capture_time(arrival, i * FRAME_S * 0.99)
    assert backlog < 0.15  # the drift of one window, not of the whole minute (0.6 s)


def test_slots_take_the_first_frame_at_or_after_each_due_time():
    slots = Slots(5.0)
    taken = [i for i in range(100) if slots.due(i * FRAME_S)]  # 4 s at 25 fps
    assert taken == list(range(0, 100, 5))


def test_slots_keep_the_rate_of_a_15_fps_source_and_restart_after_a_gap_or_a_rewind():
    slots = Slots(5.0)
    taken = [i for i in range(45) if slots.due(i / 15)]
    assert taken == list(range(0, 45, 3))
    assert slots.due(10.0)  # a long gap: due at once, then every 0.2 s from there
    assert not slots.due(10.1) and slots.due(10.2)
    assert slots.due(1.0)  # time went back (a new stream): due at once
    assert not slots.due(1.1)


def test_no_slot_comes_within_a_period_of_a_restart():
    slots = Slots(5.0, phase=0.5)  # due at 100.1 + k * 0.2
    assert slots.due(100.0)  # the first frame at once
    assert not slots.due(100.1)  # its grid slot, but only 100 ms on
    assert slots.due(100.3) and not slots.due(100.4) and slots.due(100.5)  # on the grid
    assert slots.due(100.95)  # a stalled capture (nothing since 100.5): the first frame is due at once
    after = [t for t in (100.99, 101.03, 101.07, 101.11, 101.15, 101.19) if slots.due(t)]
    assert after == [101.15]  # not 101.11 (the grid's 101.1 but 160 ms on): a busy model needs the period
    assert [t for t in (101.23, 101.27, 101.31, 101.35) if slots.due(t)] == [101.31]  # on the grid again


def test_a_source_slower_than_the_rate_gives_every_frame():
    slots = Slots(30.0)
    assert all(slots.due(i * FRAME_S) for i in range(50))


def _due_per_tick(phases: list[float], seconds: float = 4.0) -> list[int]:
    """Cameras whose frames all arrive at the same instants (25 fps, in step): due frames per instant."""
    cameras = [Slots(5.0, phase) for phase in phases]
    ticks = [1000.0 + i * FRAME_S for i in range(int(seconds / FRAME_S))]
    return [sum(slots.due(t) for slots in cameras) for t in ticks]


def test_cameras_given_spread_phases_come_due_in_turn_not_all_at_once():
    spread = _due_per_tick([k / 10 for k in range(10)])
    assert spread[0] == 10  # every camera's first frame is due at once
    assert spread[25:] == [2] * (len(spread) - 25)  # then two of the ten at every frame, never ten
    together = _due_per_tick([0.0] * 10)
    assert sorted(set(together[25:])) == [0, 10]  # the same phase: all ten at every fifth frame


def test_a_phase_keeps_the_rate_and_the_spacing():
    slots = Slots(5.0, phase=0.3)
    due = [t for t in (2000.013 + i * FRAME_S for i in range(250)) if slots.due(t)]  # 10 s at 25 fps
    assert len(due) in (50, 51)
    gaps = [round(b - a, 3) for a, b in zip(due[1:], due[2:], strict=False)]
    assert set(gaps) == {0.2}  # after the first frame: every fifth, 0.2 s apart
    assert 0.2 <= due[1] - due[0] < 0.3  # the first frame at once, the second on the grid a period on
