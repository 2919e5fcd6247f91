"""argparse types for numbers that must make sense: a count, a duration, a fraction.

``type=int`` accepts ``--threads 0`` and ``--seconds -1``, which then fail late (deep in a runtime, after
minutes of work) or silently (``captures[-0:]`` is every capture). These refuse them while the command
line is parsed; argparse prefixes the option's name, e.g. ``argument --threads: '0' must be a positive
integer (1 or more)``. They live in edge_runtime, the lowest layer, so every stage's CLI shares them.
"""

from __future__ import annotations

import argparse
import math


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def positive_int(text: str) -> int:
    """A count that needs at least one: threads, repeats, batch, cameras, rounds, events."""
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive integer (1 or more)")
    return value


def non_negative_int(text: str) -> int:
    """An integer where 0 means something: a seed, a first index, a tolerance of 0 frames."""
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative (0 or more)")
    return value


def positive_float(text: str) -> float:
    """A finite quantity above 0: seconds, minutes, a sampling interval, a rate."""
    value = _float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number (above 0)")
    return value


def non_negative_float(text: str) -> float:
    """A finite quantity where 0 means none: a warm-up, a hold, a budget in percentage points."""
    value = _float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative (0 or more)")
    return value


def fraction(text: str) -> float:
    """A share or a metric as a fraction, 0..1 inclusive (a top-1 target, a floor)."""
    value = _float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be a fraction from 0 to 1, e.g. 0.9")
    return value


def positive_counts(text: str) -> list[int]:
    """Comma-separated counts, each at least 1: ``1,2,4`` -> [1, 2, 4]."""
    try:
        values = [int(part) for part in text.split(",") if part]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated positive integers, e.g. 1,2,4")
    return values
