"""The one preprocessing implementation: shape, layout, colour order and normalisation."""

from __future__ import annotations

import numpy as np
import pytest

from edge_runtime.bundle import InputSpec
from edge_runtime.errors import ImageError
from edge_runtime.preprocess import preprocess


def _red_left_blue_right() -> np.ndarray:
    image = np.zeros((4, 8, 3), dtype=np.uint8)
    image[:, :4] = (0, 0, 255)  # BGR red
    image[:, 4:] = (255, 0, 0)  # BGR blue
    return image


def test_rgb_nchw_with_mean_and_std():
    spec = InputSpec(size=(4, 8), colour="rgb", mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    tensor = preprocess(_red_left_blue_right(), spec)
    assert tensor.shape == (1, 3, 4, 8) and tensor.dtype == np.float32
    red, green, blue = tensor[0]
    np.testing.assert_allclose(red[:, :4], 1.0)  # (255/255 - 0.5) / 0.5
    np.testing.assert_allclose(red[:, 4:], -1.0)
    np.testing.assert_allclose(green, -1.0)
    np.testing.assert_allclose(blue[:, 4:], 1.0)


def test_bgr_nhwc_keeps_opencv_channel_order():
    spec = InputSpec(size=(4, 8), colour="bgr", layout="NHWC")
    tensor = preprocess([_red_left_blue_right()] * 2, spec)
    assert tensor.shape == (2, 4, 8, 3)
    np.testing.assert_allclose(tensor[1, 0, 0], [0.0, 0.0, 1.0])
    np.testing.assert_allclose(tensor[1, 0, 7], [1.0, 0.0, 0.0])


def test_resize_to_the_manifest_size():
    spec = InputSpec(size=(32, 16))
    assert preprocess(np.zeros((100, 60, 3), np.uint8), spec).shape == (1, 3, 32, 16)


def test_empty_batch_is_an_image_error():
    with pytest.raises(ImageError):
        preprocess([], InputSpec(size=(4, 4)))
