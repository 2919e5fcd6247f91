"""The one retry schedule: doubling from min to max, jittered between half and all, reset by a success."""

import random

import pytest

from edge_runtime.backoff import Backoff


class _Fixed(random.Random):
    """A random source whose uniform draw is always the same fraction of the range."""

    def __init__(self, fraction: float) -> None:
        super().__init__(0)
        self.fraction = fraction

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self.fraction


def test_waits_double_up_to_the_cap_and_reset_after_a_success():
    backoff = Backoff(0.5, 3.0, rng=_Fixed(1.0))  # no jitter: the whole wait
    assert [backoff.next() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    backoff.reset()
    assert backoff.next() == 0.5


@pytest.mark.parametrize("fraction", [0.0, 0.5, 1.0])
def test_jitter_stays_between_half_and_all_of_the_wait(fraction):
    waits = [Backoff(1.0, 8.0, rng=_Fixed(fraction)).next() for _ in range(3)]
    assert all(0.5 <= wait <= 1.0 for wait in waits) and waits[0] == pytest.approx(0.5 + 0.5 * fraction)


def test_many_clients_do_not_retry_in_the_same_instant():
    waits = {Backoff(1.0, 8.0, rng=random.Random(seed)).next() for seed in range(20)}
    assert len(waits) == 20
