"""Every registered augmentation changes a frame, keeps it a BGR uint8 image, and obeys its probability."""

import numpy as np
import pytest
from train_tiny_data import disc_image

from train.augment import _AUGMENTS, AugmentConfig, augment

PROBABILITIES = sorted(set(AugmentConfig.model_fields) - {"underground"})  # underground: a policy


@pytest.fixture
def frame() -> np.ndarray:
    return disc_image(np.random.default_rng(0), (40, 50, 210), 96)


@pytest.mark.parametrize("name", sorted(_AUGMENTS))
def test_each_augmentation_alters_the_frame_and_keeps_its_kind(name, frame):
    only = AugmentConfig(**{field: 1.0 if field == name else 0.0 for field in PROBABILITIES})
    out = augment(frame.copy(), only, np.random.default_rng(1))
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3
    assert out.shape != frame.shape or not np.array_equal(out, frame)


def test_every_augmentation_has_a_probability_field():
    assert set(_AUGMENTS) == set(PROBABILITIES)


def test_all_probabilities_zero_is_the_identity(frame):
    off = AugmentConfig(**dict.fromkeys(PROBABILITIES, 0.0))
    assert np.array_equal(augment(frame.copy(), off, np.random.default_rng(1)), frame)


def test_same_seed_same_augmentation(frame):
    config = AugmentConfig(**dict.fromkeys(PROBABILITIES, 0.7))
    first, second = (augment(frame.copy(), config, np.random.default_rng(5)) for _ in range(2))
    assert np.array_equal(first, second)
