"""Where the image sits in the sequence and on the model-input canvas: ``ImageLayout``.

Signals need three maps: sequence position -> image token (to read attention columns), image
token -> grid cell (to reshape a row into a map), and original-image box -> cells (evidence
labels). Image tokens are located by ``config.image_token_id``, never by offsets, and boxes are
projected through the processor's own pad / resize / center-crop arithmetic (the same
transformers size functions the processor calls), then onto the cell grid of each tile.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from math import ceil
from typing import Literal

import numpy as np
from transformers.image_processing_utils import SizeDict
from transformers.image_transforms import get_resize_output_image_size, get_size_with_aspect_ratio
from transformers.image_utils import ChannelDimension, get_image_size_for_max_height_width

Rule = Literal["any", "half", "all"]


@dataclass(frozen=True)
class Tile:
    """One grid of cells on a model-input canvas of ``size_hw`` pixels.

    Original-image pixel ``(x, y)`` lands at ``(x * scale_xy[0] + offset_xy[0], y * scale_xy[1]
    + offset_xy[1])`` on the canvas; cell ``(r, c)`` covers canvas rows ``[r, r+1) * h / rows``
    and columns ``[c, c+1) * w / cols``.
    """

    rows: int
    cols: int
    size_hw: tuple[int, int]
    scale_xy: tuple[float, float] = (1.0, 1.0)
    offset_xy: tuple[float, float] = (0.0, 0.0)

    def coverage(self, box: tuple[float, float, float, float]) -> np.ndarray:
        """(rows, cols) fraction of each cell's area covered by ``box`` (original pixels)."""
        (sx, sy), (ox, oy), (h, w) = self.scale_xy, self.offset_xy, self.size_hw
        x0, y0, x1, y1 = box[0] * sx + ox, box[1] * sy + oy, box[2] * sx + ox, box[3] * sy + oy
        xe, ye = np.linspace(0, w, self.cols + 1), np.linspace(0, h, self.rows + 1)
        fx = np.clip(np.minimum(x1, xe[1:]) - np.maximum(x0, xe[:-1]), 0, None) / np.diff(xe)
        fy = np.clip(np.minimum(y1, ye[1:]) - np.maximum(y0, ye[:-1]), 0, None) / np.diff(ye)
        return np.outer(fy, fx)


@dataclass(frozen=True, eq=False)
class ImageLayout:
    """Image tokens of one prompt: sequence ``positions`` (n,), ``cells`` (n, 3) = (tile, row,
    col) per token (row = col = -1 for a token that is no grid cell, e.g. a newline slot), the
    ``tiles`` and the original ``image_size_wh``. Token index i (column i of image attention)
    is ``positions[i]`` in the sequence.

    >>> cells = np.array([[0, r, c] for r in (0, 1) for c in (0, 1)])
    >>> lay = ImageLayout(np.arange(5, 9), cells, (Tile(2, 2, (32, 32), (0.5, 0.5)),), (64, 64))
    >>> box = (0, 0, 40, 32)  # canvas (0, 0, 20, 16): all of cell (0, 0), a quarter of (0, 1)
    >>> lay.grids, lay.box_to_cells(box).tolist(), lay.box_to_cells(box, "all").tolist()
    (((2, 2),), [0, 1], [0])
    """

    positions: np.ndarray
    cells: np.ndarray
    tiles: tuple[Tile, ...]
    image_size_wh: tuple[int, int]

    @property
    def grids(self) -> tuple[tuple[int, int], ...]:
        """(rows, cols) per tile."""
        return tuple((t.rows, t.cols) for t in self.tiles)

    def box_to_cells(
        self, box_xyxy: tuple[float, ...] | np.ndarray, rule: Rule = "any"
    ) -> np.ndarray:
        """Image-token indices whose cell the box covers: any overlap, >= half, or all of it.

        The box is ``(x0, y0, x1, y1)`` in original-image pixels (edges, so ``x1 = width`` is the
        right border). Parts cropped away by the processor select nothing.
        """
        x0, y0, x1, y1 = (float(v) for v in np.asarray(box_xyxy, dtype=float).reshape(4))
        w, h = self.image_size_wh
        if not (x1 > x0 and y1 > y0):
            raise ValueError(f"box {tuple(box_xyxy)} is inverted or empty (need x0 < x1, y0 < y1)")
        if x0 < 0 or y0 < 0 or x1 > w or y1 > h:
            raise ValueError(f"box {tuple(box_xyxy)} lies outside the {w}x{h} image")
        if rule not in ("any", "half", "all"):
            raise ValueError(f"rule must be 'any', 'half' or 'all', got {rule!r}")
        keep = [_select(t.coverage((x0, y0, x1, y1)), rule) for t in self.tiles]
        tile, row, col = self.cells.T
        hit = np.zeros(len(self.cells), dtype=bool)
        grid = row >= 0
        for i, k in enumerate(keep):
            on = grid & (tile == i)
            hit[on] = k[row[on], col[on]]
        return np.flatnonzero(hit)


def _select(coverage: np.ndarray, rule: Rule) -> np.ndarray:
    if rule == "any":
        return coverage > 1e-9
    return coverage >= (0.5 - 1e-9 if rule == "half" else 1.0 - 1e-9)


def processor_tile(
    image_processor: object, image_size_wh: tuple[int, int], rows: int, cols: int
) -> Tile:
    """The canvas geometry of a CLIP/LLaVA-style processor: optional pad-to-square (LLaVA's
    ``do_pad``), resize by ``size`` (same branches as transformers' backends), center crop."""
    ip = image_processor
    w, h = (int(v) for v in image_size_wh)
    sx = sy = 1.0
    ox = oy = 0.0
    if getattr(ip, "do_pad", False) and hasattr(ip, "pad_to_square") and w != h:
        side = max(w, h)
        ox, oy = ((side - w) // 2, 0) if h > w else (0, (side - h) // 2)
        w = h = side
    if getattr(ip, "do_resize", True):
        nh, nw = _resized_hw(ip.size, h, w)
        sx, sy, ox, oy = nw / w, nh / h, ox * nw / w, oy * nh / h
        h, w = nh, nw
    if getattr(ip, "do_center_crop", False):
        crop = _size_dict(ip.crop_size)
        ch, cw = int(crop.height), int(crop.width)
        oy += ceil((ch - h) / 2) if h < ch else -((h - ch) // 2)
        ox += ceil((cw - w) / 2) if w < cw else -((w - cw) // 2)
        h, w = ch, cw
    return Tile(rows, cols, (h, w), (sx, sy), (float(ox), float(oy)))


def _size_dict(size: object) -> SizeDict:
    return size if isinstance(size, SizeDict) else SizeDict(**dict(size))  # type: ignore[call-overload]


def _resized_hw(size: object, h: int, w: int) -> tuple[int, int]:
    s = _size_dict(size)
    if s.shortest_edge and s.longest_edge:
        return get_size_with_aspect_ratio((h, w), s.shortest_edge, s.longest_edge)
    if s.shortest_edge:
        shape_only = np.broadcast_to(np.zeros((), np.uint8), (1, h, w))
        first = ChannelDimension.FIRST
        return get_resize_output_image_size(shape_only, s.shortest_edge, False, None, first)
    if s.max_height and s.max_width:
        return get_image_size_for_max_height_width((h, w), s.max_height, s.max_width)
    if s.height and s.width:
        return int(s.height), int(s.width)
    raise ValueError(f"unsupported image processor size {s}")


def llava_layout(
    input_ids: object, processor: object, config: object, image_size_wh: tuple[int, int]
) -> ImageLayout:
    """Layout of a single-image LLaVA prompt: one run of ``config.image_token_id``, a square
    ``image_size // patch_size`` grid, row-major; boxes through the processor's geometry."""
    ids = np.asarray(input_ids).reshape(-1)
    positions = np.flatnonzero(ids == config.image_token_id)  # type: ignore[attr-defined]
    vc = config.vision_config  # type: ignore[attr-defined]
    g = int(vc.image_size) // int(vc.patch_size)
    if len(positions) != g * g:
        raise ValueError(
            f"found {len(positions)} image tokens (id {config.image_token_id}), expected "  # type: ignore[attr-defined]
            f"{g}x{g} = {g * g} for one image; check num_additional_image_tokens / "
            "vision_feature_select_strategy, or several images in the prompt"
        )
    tile = processor_tile(processor.image_processor, image_size_wh, g, g)  # type: ignore[attr-defined]
    size = (int(image_size_wh[0]), int(image_size_wh[1]))
    return ImageLayout(positions, square_grid_cells(g), (tile,), size)


@lru_cache(maxsize=64)
def square_grid_cells(g: int) -> np.ndarray:
    """(g*g, 3) cells (tile 0, row, col) of one row-major g x g grid; read-only, shared by
    every layout of that grid (built once: a live check builds a layout per request).

    >>> square_grid_cells(2).tolist()
    [[0, 0, 0], [0, 0, 1], [0, 1, 0], [0, 1, 1]]
    """
    from vrprobe.models.families.grids import row_major_cells  # the families import this module

    cells = row_major_cells(0, g, g)
    cells.flags.writeable = False
    return cells
