"""Smooth random fields for rock, dust and load variation, built from upsampled coarse noise."""

import cv2
import numpy as np


def fractal_noise(
    rng: np.random.Generator, height: int, width: int, *, cells: int = 4, octaves: int = 4
) -> np.ndarray:
    """Zero-mean 2-D noise of roughly unit spread: coarse random grids, upsampled and summed."""
    out = np.zeros((height, width), np.float32)
    amplitude, power = 1.0, 0.0
    for octave in range(octaves):
        grid_w = cells * 2**octave + 1
        grid_h = max(2, round(grid_w * height / width) + 1)
        grid = rng.standard_normal((grid_h, grid_w)).astype(np.float32)
        out += amplitude * cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
        power += amplitude**2
        amplitude *= 0.5
    return out / np.float32(np.sqrt(power))


def smooth_series(rng: np.random.Generator, length: int, correlation: float) -> np.ndarray:
    """1-D zero-mean, unit-variance noise whose bumps span about ``correlation`` samples."""
    sigma = max(correlation, 1.0) / 2
    half = int(3 * sigma) + 1
    kernel = np.exp(-0.5 * (np.arange(-half, half + 1) / sigma) ** 2)
    series = np.convolve(rng.standard_normal(length + 2 * half), kernel, mode="valid")
    return (series - series.mean()) / (series.std() + 1e-9)
