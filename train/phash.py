"""Near-duplicate search over perceptual hashes (``edge_runtime.phash``), compared by Hamming distance.

pHash survives re-encoding, resizing and small brightness changes, which is how one belt frame
ends up in both train and test after a copy through another tool. Exact copies are caught
separately by a digest of the file bytes.
"""

from __future__ import annotations

import numpy as np

from edge_runtime.phash import phash

__all__ = ["groups", "near_pairs", "phash"]


def near_pairs(hashes: list[int], max_distance: int) -> list[tuple[int, int, int]]:
    """(i, j, distance) for every pair i < j within ``max_distance`` bits; one vectorised row per image."""
    values = np.asarray(hashes, dtype=np.uint64)
    pairs = []
    for i in range(len(values) - 1):
        distances = np.bitwise_count(values[i + 1 :] ^ values[i])
        for offset in np.flatnonzero(distances <= max_distance):
            pairs.append((i, i + 1 + int(offset), int(distances[offset])))
    return pairs


def groups(size: int, pairs: list[tuple[int, int, int]]) -> list[list[int]]:
    """Connected components of the pair graph (union-find), only those with two or more members."""
    parent = list(range(size))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j, _ in pairs:
        parent[root(i)] = root(j)
    members: dict[int, list[int]] = {}
    for i in range(size):
        members.setdefault(root(i), []).append(i)
    return [sorted(group) for group in members.values() if len(group) > 1]
