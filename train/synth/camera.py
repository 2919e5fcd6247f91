"""What an underground camera does to a scene: dim, uneven light, dust, glare, noise and blur.

A ``Camera`` is one image's description of those effects; ``expose`` turns a drawn scene into the
frame the camera would deliver. The light and dust maps depend only on the camera and the frame
size, so a video computes them once (``exposure_maps``) and reuses them for every frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from train.synth.textures import fractal_noise

TINTS = ((1.08, 1.0, 0.9), (0.84, 0.97, 1.1), (1.0, 1.0, 1.0))  # BGR gains: LED white, warm lamps, neutral
FOG_LEVEL = 95.0  # brightness of thick, well-lit dust
GLOW_COLOUR = np.array([0.92, 0.98, 1.0], np.float32)
MAP_STEP = 8  # the light and dust maps are smooth: compute them on a grid this many pixels apart


@dataclass(frozen=True)
class LightPool:
    """Light from a lamp out of view: a soft pool centred at (x, y), fractions of the frame."""

    x: float
    y: float
    radius: float  # fraction of the frame width
    strength: float


@dataclass(frozen=True)
class Glow:
    """A light source in view (luminaire, cap lamp): it blooms into a bright, soft spot."""

    x: float
    y: float
    radius: float  # pixels
    strength: float


@dataclass(frozen=True)
class Camera:
    """One image's lighting and camera effects (all randomised per image by ``sample_camera``)."""

    ambient: float  # light everywhere, relative to a well-lit surface
    pools: tuple[LightPool, ...]
    vignette: float  # 0 none .. 1 black corners
    tint: tuple[float, float, float]  # BGR gains of the light's colour
    gamma: float  # response curve exponent; above 1 darkens the mid-tones
    haze: float  # dust fog strength, 0..~0.5
    dust_seed: int  # spatial pattern of the dust
    bloom: float  # how strongly light sources in view bloom
    blur_px: float  # motion blur length along the belt
    noise: float  # Gaussian sensor noise, standard deviation on the 0..255 scale
    salt: float  # fraction of hot or dead pixels
    softness: float  # Gaussian sigma of the lossy-compression softness, pixels
    noise_seed: int

    @classmethod
    def neutral(cls) -> Camera:
        """A perfect camera in flat light: the drawn scene unchanged (to check labels against pixels)."""
        return cls(1.0, (), 0.0, (1.0, 1.0, 1.0), 1.0, 0.0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0)


@dataclass(frozen=True, eq=False)
class ExposureMaps:
    """What does not change between frames of one camera: light, dust glow and response curve."""

    gain: np.ndarray  # (h, w, 3) float32
    fog: np.ndarray  # (h, w, 3) float32
    curve: np.ndarray  # (256,) uint8


def sample_camera(rng: np.random.Generator) -> Camera:
    pools = tuple(
        LightPool(
            rng.uniform(0.05, 0.95), rng.uniform(0.25, 0.85), rng.uniform(0.15, 0.45), rng.uniform(0.5, 1.4)
        )
        for _ in range(rng.integers(1, 4))
    )
    tint = np.array(TINTS[rng.integers(len(TINTS))]) * (1 + rng.normal(0, 0.03, 3))
    return Camera(
        ambient=rng.uniform(0.25, 0.5),
        pools=pools,
        vignette=rng.uniform(0.2, 0.6),
        tint=(float(tint[0]), float(tint[1]), float(tint[2])),
        gamma=rng.uniform(0.8, 1.4),
        haze=rng.uniform(0.05, 0.45) if rng.random() < 0.7 else 0.0,
        dust_seed=int(rng.integers(2**31)),
        bloom=rng.uniform(0.6, 1.4),
        blur_px=rng.uniform(1.0, 6.0) if rng.random() < 0.7 else 0.0,
        noise=rng.uniform(3.0, 11.0),
        salt=rng.uniform(0.0, 0.001),
        softness=rng.uniform(0.3, 0.9),
        noise_seed=int(rng.integers(2**31)),
    )


def exposure_maps(camera: Camera, width: int, height: int) -> ExposureMaps:
    """Light (pools, ambient, vignette, colour cast) and lit dust, computed coarse and upsampled."""
    gw, gh = width // MAP_STEP + 2, height // MAP_STEP + 2
    x = np.linspace(0, 1, gw, dtype=np.float32)[None, :]
    y = np.linspace(0, 1, gh, dtype=np.float32)[:, None]
    light = np.full((gh, gw), camera.ambient, np.float32)
    for pool in camera.pools:
        d2 = (x - pool.x) ** 2 + ((y - pool.y) * height / width) ** 2
        light += pool.strength * np.exp(-d2 / (2 * pool.radius**2))
    light *= np.clip(1 - camera.vignette * ((x - 0.5) ** 2 + (y - 0.5) ** 2) * 2, 0, 1)
    dust = fractal_noise(np.random.default_rng(camera.dust_seed), gh, gw, cells=2, octaves=3)
    fog = (
        camera.haze
        * np.clip(0.55 + 0.45 * dust, 0, None)
        * (0.35 + 0.65 * np.minimum(light, 1.5))
        * FOG_LEVEL
    )
    tint = np.array(camera.tint, np.float32)
    up = (width, height)
    return ExposureMaps(
        gain=cv2.resize(light, up, interpolation=cv2.INTER_LINEAR)[..., None] * tint,
        fog=cv2.resize(fog.astype(np.float32), up, interpolation=cv2.INTER_LINEAR)[..., None] * tint,
        curve=np.clip(255 * (np.arange(256) / 255) ** camera.gamma + 0.5, 0, 255).astype(np.uint8),
    )


def motion_blur(image: np.ndarray, region: np.ndarray, length_px: float, angle_deg: float) -> None:
    """Smear ``image`` in place, inside the boolean ``region``, along ``angle_deg`` (the belt's motion)."""
    if length_px < 1.5:
        return
    size = int(np.ceil(length_px)) | 1
    kernel = np.zeros((size, size), np.float32)
    c, angle = size // 2, np.radians(angle_deg)
    dx, dy = (length_px - 1) / 2 * np.cos(angle), (length_px - 1) / 2 * np.sin(angle)
    cv2.line(kernel, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1.0, 1, cv2.LINE_AA)
    kernel /= kernel.sum()
    rows = np.flatnonzero(region.any(axis=1))
    if len(rows) == 0:
        return
    band = slice(rows[0], rows[-1] + 1)
    np.copyto(image[band], cv2.filter2D(image[band], -1, kernel), where=region[band][..., None])


def expose(
    image: np.ndarray,
    camera: Camera,
    maps: ExposureMaps,
    glows: Sequence[Glow],
    noise_seed: int | Sequence[int],
) -> np.ndarray:
    """The frame the camera delivers for the drawn scene ``image`` (BGR uint8 in, BGR uint8 out)."""
    frame = image.astype(np.float32)
    frame *= maps.gain
    frame += maps.fog
    for glow in glows:
        _bloom(frame, glow, camera.bloom)
    rng = np.random.default_rng(noise_seed)
    h, w = frame.shape[:2]
    if camera.noise:
        frame += rng.standard_normal((h, w, 1), dtype=np.float32) * np.float32(camera.noise)
    np.clip(frame, 0, 255, out=frame)
    out = cv2.LUT(frame.astype(np.uint8), maps.curve)
    if camera.salt:
        count = int(rng.binomial(h * w, camera.salt))
        out.reshape(-1, 3)[rng.integers(0, h * w, count)] = rng.choice((0, 255), (count, 1)).astype(np.uint8)
    if camera.softness:
        out = cv2.GaussianBlur(out, (0, 0), camera.softness)
    return out


def _bloom(frame: np.ndarray, glow: Glow, amount: float) -> None:
    """Add a saturated core and a soft halo around a light source (only the patch it reaches)."""
    radius = glow.radius * amount
    if radius < 0.5:
        return
    h, w = frame.shape[:2]
    x0, x1 = max(int(glow.x - 3 * radius), 0), min(int(glow.x + 3 * radius) + 1, w)
    y0, y1 = max(int(glow.y - 3 * radius), 0), min(int(glow.y + 3 * radius) + 1, h)
    if x0 >= x1 or y0 >= y1:
        return
    dx = (np.arange(x0, x1, dtype=np.float32) - glow.x) / radius
    dy = (np.arange(y0, y1, dtype=np.float32) - glow.y) / radius
    d2 = dx[None, :] ** 2 + dy[:, None] ** 2
    spot = glow.strength * amount * (400 * np.exp(-4 * d2) + 110 * np.exp(-0.5 * d2))
    frame[y0:y1, x0:x1] += spot[..., None] * GLOW_COLOUR
