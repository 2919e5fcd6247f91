"""Per-item random generators, so every output depends only on the root seed and its own address.

Deriving each image's generator from ``(seed, task, *address)`` instead of drawing from one shared
stream keeps outputs byte-identical whatever order (or subset) they are generated in.
"""

import numpy as np

TASKS = ("classify", "detect", "segment", "video")


def item_rng(seed: int, task: str, *address: int) -> np.random.Generator:
    """The generator of one item, e.g. ``item_rng(seed, "classify", split, class_index, number)``."""
    return np.random.default_rng([seed, TASKS.index(task), *address])
