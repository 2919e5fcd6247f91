"""Synthetic underground conveyor-belt scenes: classification, detection, segmentation and video.

Deterministic (same seed and preset, same bytes) and built on numpy and OpenCV only, so the demo
and the tests need no field data. ``generate`` writes everything; ``render`` draws one scene.
"""

from train.synth.errors import SynthError
from train.synth.generate import generate
from train.synth.presets import PRESETS
from train.synth.render import Box, Rendered, Renderer, render
from train.synth.scene import Scene, classify_scene, detect_scene, segment_scene

__all__ = [
    "PRESETS",
    "Box",
    "Rendered",
    "Renderer",
    "Scene",
    "SynthError",
    "classify_scene",
    "detect_scene",
    "generate",
    "render",
    "segment_scene",
]
