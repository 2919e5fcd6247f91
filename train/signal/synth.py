"""Synthetic bearing vibration with known fault frequencies, so tests need no real data.

A defect on a race or a ball hits the rolling elements at a characteristic rate (BPFO, BPFI,
BSF, from the bearing geometry and the shaft speed); each hit rings the structure's resonance,
and inner-race/ball hits are amplitude-modulated by the shaft rotation as the defect moves
through the load zone. Shaft harmonics and noise sit under everything. The load changes the
shaft speed a little, which is what makes cross-load transfer non-trivial.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from train.signal.readers import Recording

SYNTH_CLASSES = ("normal", "ball", "inner_race", "outer_race")
# SKF 6205-2RS JEM (the CWRU drive-end bearing): defect frequencies as multiples of shaft rate.
DEFECT_ORDERS = {"ball": 2.357, "inner_race": 5.415, "outer_race": 3.585}
RPM_BY_LOAD = {0: 1797.0, 1: 1772.0, 2: 1750.0, 3: 1730.0}


@dataclass(frozen=True)
class SynthSettings:
    sampling_rate: float = 12_000.0
    seconds: float = 4.0
    resonance_hz: float = 3_000.0
    impact_amplitude: float = 1.0
    noise: float = 0.15


def bearing_signal(
    label: str, load: int, seed: int, settings: SynthSettings = SynthSettings(), rpm: float | None = None
) -> np.ndarray:
    """One recording's drive-end acceleration for ``label`` at ``load`` HP (at ``rpm`` when given,
    else the CWRU rig's speed at that load)."""
    if label not in SYNTH_CLASSES:
        raise ValueError(f"unknown synthetic class {label!r}; expected one of {SYNTH_CLASSES}")
    rng = np.random.default_rng(seed)
    fs = settings.sampling_rate
    t = np.arange(int(settings.seconds * fs)) / fs
    shaft_hz = (rpm or RPM_BY_LOAD[load]) / 60.0
    signal = sum(
        0.1 / k * np.sin(2 * np.pi * k * shaft_hz * t + rng.uniform(0, 2 * np.pi)) for k in (1, 2, 3)
    )
    if label != "normal":
        signal = signal + _impacts(t, DEFECT_ORDERS[label] * shaft_hz, shaft_hz, label, rng, settings)
    return (signal + settings.noise * rng.standard_normal(len(t))).astype(np.float32)


def _impacts(
    t: np.ndarray,
    rate_hz: float,
    shaft_hz: float,
    label: str,
    rng: np.random.Generator,
    settings: SynthSettings,
) -> np.ndarray:
    """Decaying resonance bursts at ``rate_hz`` with 1% timing jitter (rolling elements slip)."""
    out = np.zeros_like(t)
    decay = 800.0
    ring_len = int(0.004 * settings.sampling_rate)
    ring_t = np.arange(ring_len) / settings.sampling_rate
    ring = np.exp(-decay * ring_t) * np.sin(2 * np.pi * settings.resonance_hz * ring_t)
    hit = rng.uniform(0, 1 / rate_hz)
    while hit < t[-1]:
        start = int(hit * settings.sampling_rate)
        modulation = 1.0 if label == "outer_race" else 0.6 + 0.4 * np.cos(2 * np.pi * shaft_hz * hit)
        end = min(start + ring_len, len(t))
        out[start:end] += settings.impact_amplitude * modulation * ring[: end - start]
        hit += (1 / rate_hz) * (1 + 0.01 * rng.standard_normal())
    return out


def synthetic_recordings(
    loads: tuple[int, ...] = (0, 1),
    seed: int = 0,
    settings: SynthSettings = SynthSettings(),
    rpm_by_load: dict[int, float] | None = None,
) -> list[Recording]:
    """One recording per class and load, like the CWRU layout; ``rpm_by_load`` overrides the rig's speeds."""
    speeds = RPM_BY_LOAD | (rpm_by_load or {})
    return [
        Recording(
            samples=bearing_signal(label, load, seed + 100 * load + i, settings, speeds[load]),
            sampling_rate=settings.sampling_rate,
            label=label,
            load=load,
            name=f"synth_{label}_{load}",
            rpm=speeds[load],
        )
        for load in loads
        for i, label in enumerate(SYNTH_CLASSES)
    ]
