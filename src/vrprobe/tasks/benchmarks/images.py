"""Image fields as benchmarks publish them, and evidence boxes checked against the image.

An image field may be a decoded `PIL.Image` (hub loading), a `datasets` Image struct
`{"bytes", "path"}` (parquet and saved folders), a base64 string (VLMEvalKit TSVs such as
HR-Bench), or a path relative to the data file (JSON + image folders; also tried under
`images/`). Images open lazily; a broken one becomes a `SampleError` naming the row.
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from vrprobe.tasks.base import Box, SampleError

_SUBFOLDERS = ("", "images", "image", "imgs")


def _from_bytes(data: bytes, row_id: str, field: str) -> Image.Image:
    try:
        return Image.open(io.BytesIO(data))
    except (OSError, SyntaxError, ValueError) as exc:
        raise SampleError(row_id, f"field {field!r}: embedded image is unreadable: {exc}") from exc


def _looks_base64(value: str) -> bool:
    """Long strings and the PNG / JPEG base64 signatures are image data, not paths."""
    return len(value) > 256 or value.startswith(("iVBORw0KGgo", "/9j/"))


def image_source(value: Any, base: Path, row_id: str, field: str = "image") -> Image.Image | Path:
    """A lazily opened image or a path for one image field (see the module docstring).

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp()); Image.new("RGB", (4, 3)).save(d / "a.png")
    >>> image_source("a.png", d, "r1") == d / "a.png"
    True
    >>> buf = io.BytesIO(); Image.new("RGB", (5, 2)).save(buf, "PNG")
    >>> image_source({"bytes": buf.getvalue(), "path": None}, d, "r1").size
    (5, 2)
    """
    if isinstance(value, Image.Image):
        return value
    if isinstance(value, dict):
        if value.get("bytes"):
            return _from_bytes(value["bytes"], row_id, field)
        value = value.get("path")
    if isinstance(value, bytes):
        return _from_bytes(value, row_id, field)
    if not isinstance(value, str) or not value.strip():
        raise SampleError(row_id, f"field {field!r}: need an image, a path or image bytes")
    path = Path(value)
    if path.is_absolute() and path.is_file():
        return path
    for sub in _SUBFOLDERS:
        for candidate in (base / sub / value, base / sub / path.name):
            if candidate.is_file():
                return candidate
    if _looks_base64(value):
        try:
            return _from_bytes(base64.b64decode(value, validate=False), row_id, field)
        except binascii.Error as exc:
            raise SampleError(row_id, f"field {field!r}: bad base64 image: {exc}") from exc
    raise SampleError(row_id, f"field {field!r}: image file not found: {base / value}")


def image_size(source: Image.Image | Path, row_id: str) -> tuple[int, int]:
    """(width, height), reading only the header of a file."""
    if isinstance(source, Image.Image):
        return source.size
    try:
        with Image.open(source) as img:
            return img.size
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise SampleError(row_id, f"cannot read image {source}: {exc}") from exc


def checked_boxes(boxes: Sequence[Sequence[float]], size: tuple[int, int], row_id: str) -> tuple:
    """Boxes as float xyxy tuples, each non-empty and inside the `size` (w, h) image.

    >>> checked_boxes([[1, 2, 3, 4]], (10, 10), "r")
    ((1.0, 2.0, 3.0, 4.0),)
    >>> checked_boxes([[0, 0, 11, 4]], (10, 10), "r")
    Traceback (most recent call last):
    ...
    vrprobe.tasks.base.SampleError: r: box [0.0, 0.0, 11.0, 4.0] lies outside the 10x10 image
    """
    width, height = size
    out: list[Box] = []
    for raw in boxes:
        if len(raw) != 4:
            raise SampleError(row_id, f"box {list(raw)} does not have 4 coordinates")
        x0, y0, x1, y1 = (float(v) for v in raw)
        if not (x0 < x1 and y0 < y1):
            raise SampleError(row_id, f"box {[x0, y0, x1, y1]} is empty or inverted")
        if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
            raise SampleError(
                row_id, f"box {[x0, y0, x1, y1]} lies outside the {width}x{height} image"
            )
        out.append((x0, y0, x1, y1))
    return tuple(out)


def xywh_to_xyxy(box: Sequence[float]) -> list[float]:
    """COCO-style [x, y, w, h] to [x0, y0, x1, y1].

    >>> xywh_to_xyxy([10, 20, 5, 6])
    [10.0, 20.0, 15.0, 26.0]
    """
    x, y, w, h = (float(v) for v in box)
    return [x, y, x + w, y + h]


def tile(images: Sequence[Image.Image]) -> Image.Image:
    """Images side by side, left to right, top-aligned on white (for multi-image questions).

    >>> tile([Image.new("RGB", (4, 3)), Image.new("RGB", (2, 5))]).size
    (6, 5)
    """
    rgb = [im.convert("RGB") for im in images]
    canvas = Image.new("RGB", (sum(i.width for i in rgb), max(i.height for i in rgb)), "white")
    x = 0
    for im in rgb:
        canvas.paste(im, (x, 0))
        x += im.width
    return canvas
