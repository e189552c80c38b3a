"""Reading task images: one policy for size limits, EXIF orientation and pixel modes.

- **Size limit**: an image of more than `MAX_IMAGE_PIXELS` pixels (PIL's default, ~89.5
  megapixels, ~270 MB as RGB) is refused from its header, before any pixel is decoded, with an
  error naming the size and the limit (a decompression-bomb guard: PIL alone would only warn
  up to twice that size). PIL's own `Image.MAX_IMAGE_PIXELS` is set to the same value, and its
  `DecompressionBombWarning` is raised as an error, never ignored.
- **Orientation**: the EXIF orientation tag is applied (`ImageOps.exif_transpose`), so the
  model sees the image as a viewer displays it; sizes and evidence boxes are in that displayed
  orientation (for orientations 5–8 width and height swap). (A PNG whose eXIf chunk comes
  after the pixel data is not oriented when sizes are read from headers; Pillow writes it first.)
- **Pixel modes** become 8-bit RGB: 16-bit and 32-bit integer grayscale (`I;16*`, `I`) are
  scaled by 255/65535 (PIL would clip every value above 255 to white); images with
  transparency (RGBA, LA, PA, palette with a transparent index) are composited over white
  (PIL's plain conversion would show the colour stored under transparent pixels); other modes
  (L, 1, P, CMYK, YCbCr, RGB) use PIL's conversion. Floating-point images (`F`) are refused.

The file's content decides its format, not its extension: a PNG named `.jpg` loads; a text
file named `.png` is an error.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, ImageOps

MAX_IMAGE_PIXELS = 89_478_485
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
READ_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError, EOFError)
_SWAPS_AXES = {5, 6, 7, 8}  # EXIF orientations that rotate by 90 or 270 degrees
_WIDE_GRAY = ("I;16", "I;16L", "I;16B", "I;16N", "I")


class ImageRejected(ValueError):
    """An image that is readable but refused by the policy above (too large, float pixels)."""


def displayed_size(img: Image.Image) -> tuple[int, int]:
    """(width, height) after the EXIF orientation is applied, read from the header only.

    >>> displayed_size(Image.new("RGB", (4, 2)))
    (4, 2)
    """
    w, h = img.size
    return (h, w) if _orientation(img) in _SWAPS_AXES else (w, h)


def _orientation(img: Image.Image) -> int:
    """The EXIF orientation tag (1 = as stored), from the header only."""
    if img.format == "PNG" and "exif" not in img.info:
        return 1  # PNG getexif() would decode the whole image to look past the pixel data
    return img.getexif().get(0x0112, 1)


def check_pixels(size: tuple[int, int], limit: int | None = None) -> None:
    """Raise `ImageRejected` when `size` has more than `limit` (default `MAX_IMAGE_PIXELS`).

    >>> check_pixels((10, 10), limit=99)
    Traceback (most recent call last):
    ...
    vrprobe.tasks.images.ImageRejected: image is 10x10 = 100 pixels, more than the limit of 99 \
(decompression-bomb guard, vrprobe.tasks.images.MAX_IMAGE_PIXELS)
    """
    limit = MAX_IMAGE_PIXELS if limit is None else limit
    w, h = size
    if w * h > limit:
        raise ImageRejected(
            f"image is {w}x{h} = {w * h} pixels, more than the limit of {limit} "
            "(decompression-bomb guard, vrprobe.tasks.images.MAX_IMAGE_PIXELS)"
        )


def to_rgb(img: Image.Image) -> Image.Image:
    """An 8-bit RGB copy of `img` following the mode policy of the module doc.

    >>> import numpy as np
    >>> wide = Image.fromarray(np.array([[0, 257, 65535]], dtype=np.uint16))
    >>> np.asarray(to_rgb(wide))[0, :, 0].tolist()
    [0, 1, 255]
    >>> np.asarray(to_rgb(Image.new("RGBA", (1, 1), (255, 0, 0, 0)))).tolist()
    [[[255, 255, 255]]]
    """
    mode = img.mode
    if mode == "F":
        raise ImageRejected("32-bit floating-point images are not supported; save as 8/16-bit")
    if mode in _WIDE_GRAY:
        a = np.asarray(img, dtype=np.float64)
        gray = np.clip(np.rint(np.clip(a, 0, 65535) * (255 / 65535)), 0, 255).astype(np.uint8)
        return Image.fromarray(gray, mode="L").convert("RGB")
    has_alpha = mode in ("RGBA", "LA", "PA", "La", "RGBa") or (
        mode in ("P", "L", "RGB") and "transparency" in img.info
    )
    if has_alpha:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")


@contextmanager
def _bomb_guard() -> Iterator[None]:
    """PIL's decompression-bomb warning and error become `ImageRejected`."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise ImageRejected(f"{exc} (PIL's decompression-bomb guard)") from exc


def open_image(source: Path | IO[bytes]) -> Image.Image:
    """`Image.open` (lazy: header only) with PIL's decompression-bomb warning as an error."""
    with _bomb_guard():
        return Image.open(source)


def read_size(source: Path | IO[bytes]) -> tuple[int, int]:
    """Displayed (width, height) from the header; raises on unreadable or too-large images."""
    with open_image(source) as img:
        size = displayed_size(img)
    check_pixels(size)
    return size


def read_rgb(source: Path | IO[bytes] | Image.Image) -> Image.Image:
    """Decode, orient and convert an image (a path, a binary file, or a PIL image) to RGB; a
    PIL image that needs none of it is returned as is (never modified)."""
    if isinstance(source, Image.Image):
        check_pixels(displayed_size(source))
        if _orientation(source) == 1 and source.mode == "RGB" and "transparency" not in source.info:
            return source  # already what the policy gives: no copy (a live check's fast path)
        return to_rgb(ImageOps.exif_transpose(source))
    with open_image(source) as img:
        check_pixels(displayed_size(img))
        with _bomb_guard():
            img.load()
        return to_rgb(ImageOps.exif_transpose(img))
