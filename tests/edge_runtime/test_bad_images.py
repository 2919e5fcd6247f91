"""Bad and odd image files through the edge readers: a clear ImageError naming the file, or a
correct 3-channel BGR uint8 picture; never a crash. An image-folder camera skips the bad ones."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest
from bad_images import BAD, ODD, picture, write_bad_images, write_odd_images

from edge_runtime.bundle import InputSpec
from edge_runtime.config.cameras import CameraConfig
from edge_runtime.errors import ImageError, SourceError
from edge_runtime.preprocess import preprocess, read_image
from edge_runtime.sources import open_camera


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    pytest.importorskip("PIL", reason="Pillow writes the CMYK JPEG")
    folder = tmp_path_factory.mktemp("images")
    write_bad_images(folder)
    write_odd_images(folder)
    return folder


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_bad_image_is_an_image_error_naming_the_file_and_the_reason(image_folder, name):
    with pytest.raises(ImageError) as error:
        read_image(image_folder / name)
    assert name in str(error.value) and BAD[name] in str(error.value)


@pytest.mark.parametrize("name", ODD)
def test_an_odd_image_reads_as_the_same_bgr_picture(image_folder, name):
    image = read_image(image_folder / name)
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    reference = picture()
    if name == "grayscale.png":
        reference = cv2.cvtColor(cv2.cvtColor(reference, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    small = cv2.resize(image, (320, 240), interpolation=cv2.INTER_AREA)
    assert np.abs(small.astype(int) - reference).mean() < 6  # colours right, not channels swapped
    assert preprocess(image, InputSpec(size=(32, 32))).shape == (1, 3, 32, 32)


def test_arrays_preprocessing_cannot_use_are_image_errors():
    for array in (
        np.zeros((4, 4, 2), np.uint8),
        np.zeros((4, 4, 3), np.float64),
        np.zeros((1, 9, 3), np.uint8),
    ):
        with pytest.raises(ImageError):
            preprocess(array, InputSpec(size=(4, 4)))


def test_an_image_folder_camera_skips_bad_files_and_names_them(image_folder, caplog):
    camera = CameraConfig(name="stills", source=str(image_folder))
    source = open_camera(camera, threading.Event())
    frames = []
    while (frame := source.read()) is not None:
        frames.append(frame)
    assert len(frames) == len(ODD)
    assert all(f.image.dtype == np.uint8 and f.image.shape[2] == 3 for f in frames)
    for name in BAD:
        assert name in caplog.text


def test_a_looping_folder_of_only_bad_images_ends_with_a_source_error_instead_of_spinning(tmp_path):
    write_bad_images(tmp_path)
    source = open_camera(CameraConfig(name="stills", source=str(tmp_path), loop=True), threading.Event())
    with pytest.raises(SourceError, match="no readable image"):
        source.read()
