"""Image files a site really produces when things go wrong, written into a folder for the readers' tests.

``BAD`` must be refused with an ImageError naming the file and the reason; ``ODD`` must be read as
3-channel BGR uint8 close to the picture they were made from.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np

BAD = {  # file name -> words the error must contain
    "zero_bytes.jpg": "empty",
    "truncated.jpg": "not a readable image",
    "not_an_image.jpg": "not a readable image",
    "one_pixel.png": "too small",
    "bomb_header.png": "not a readable image",  # claims 100000 x 100000 pixels, carries none
}
ODD = ("grayscale.png", "rgba.png", "sixteen_bit.png", "cmyk.jpg", "very_large.jpg")


def picture() -> np.ndarray:
    """A smooth BGR test picture (JPEG keeps it close, so decoded copies can be compared)."""
    yy, xx = np.mgrid[0:240, 0:320]
    return np.dstack([xx * 255 // 319, yy * 255 // 239, (xx + yy) * 255 // 558]).astype(np.uint8)


def _png_header_only(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", 13)
        + b"IHDR"
        + ihdr
        + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    )


def write_bad_images(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    image = picture()
    jpeg = cv2.imencode(".jpg", image)[1].tobytes()
    (folder / "zero_bytes.jpg").write_bytes(b"")
    (folder / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (folder / "not_an_image.jpg").write_bytes(b"mine log 2024-01-01 shift A\n" * 20)
    cv2.imwrite(str(folder / "one_pixel.png"), image[:1, :1])
    (folder / "bomb_header.png").write_bytes(_png_header_only(100_000, 100_000))


def write_odd_images(folder: Path) -> None:
    from PIL import Image  # Pillow writes CMYK JPEGs; OpenCV cannot

    folder.mkdir(parents=True, exist_ok=True)
    image = picture()
    cv2.imwrite(str(folder / "grayscale.png"), cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(folder / "rgba.png"), cv2.cvtColor(image, cv2.COLOR_BGR2BGRA))
    cv2.imwrite(str(folder / "sixteen_bit.png"), image.astype(np.uint16) * 257)
    Image.fromarray(image[..., ::-1]).convert("CMYK").save(folder / "cmyk.jpg", quality=95)
    cv2.imwrite(str(folder / "very_large.jpg"), cv2.resize(image, (8000, 6000)))  # 48 MP
