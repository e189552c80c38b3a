"""LLaVA-NeXT (v1.6) any-res geometry: a base image plus a tiled high-resolution map, unpadded.

The image processor (``LlavaNextImageProcessor``) makes two views of one image:

- **base**: the whole image stretched to ``size`` (aspect ratio not kept), then the usual
  resize + center crop, one ``g × g`` grid (``g = image_size // patch_size``);
- **any-res map**: the image resized to fit ``select_best_resolution`` (aspect kept,
  ``get_patch_output_size``), zero-padded to it (centered), cut into ``rows × cols`` tiles of
  ``image_size`` pixels. The model joins the tiles' features into one ``(rows·g) × (cols·g)``
  map and removes the feature rows (or columns) that are only padding (``unpad_image``).

Sequence (``pack_image_features``): the base grid row-major, then the unpadded map row by row,
each row followed by one *newline slot* (``image_newline``; the token id is the image token's,
but the slot is no grid cell). Layout tile 0 is the base image, tile 1 the unpadded map.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from transformers.image_processing_utils import get_patch_output_size, select_best_resolution
from transformers.image_utils import ChannelDimension

from vrprobe.models.layout import ImageLayout, Tile, processor_tile

NEWLINE = (-1, -1)


def _size_tuple(size: Any) -> tuple[int, int]:
    """(height, width) the base image is stretched to, as the processor computes it."""
    s = dict(size)
    if s.get("height") and s.get("width"):
        return int(s["height"]), int(s["width"])
    return int(s["shortest_edge"]), int(s["shortest_edge"])


def base_tile(image_processor: Any, image_size_wh: tuple[int, int], g: int, side: int) -> Tile:
    """Tile 0: stretch to ``size``, then resize + center crop to a ``side``-pixel square.

    >>> ip = SimpleNamespace(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32},
    ...                      do_resize=True, do_center_crop=True)
    >>> t = base_tile(ip, (160, 40), 4, 32)
    >>> t.size_hw, t.scale_xy, t.offset_xy
    ((32, 32), (0.2, 0.8), (0.0, 0.0))
    """
    w, h = (int(v) for v in image_size_wh)
    sh, sw = _size_tuple(image_processor.size)
    plain = SimpleNamespace(
        do_pad=False,
        do_resize=getattr(image_processor, "do_resize", True),
        size=image_processor.size,
        do_center_crop=getattr(image_processor, "do_center_crop", False),
        crop_size=getattr(image_processor, "crop_size", None),
    )
    inner = processor_tile(plain, (sw, sh), g, g)
    if inner.size_hw != (side, side):
        raise ValueError(
            f"LLaVA-NeXT: the base image becomes {inner.size_hw}, not the vision tower's "
            f"{side}x{side} input (size {image_processor.size}, crop {plain.crop_size})"
        )
    (ix, iy), (ox, oy) = inner.scale_xy, inner.offset_xy
    return Tile(g, g, (side, side), (ix * sw / w, iy * sh / h), (ox, oy))


def anyres_map(
    pinpoints: list, image_size_wh: tuple[int, int], g: int, side: int
) -> tuple[Tile, tuple[int, int]]:
    """Tile 1 (the unpadded feature map) and the (rows, cols) of ``side``-pixel tiles cut.

    >>> tile, tiles = anyres_map([[32, 64], [64, 32], [64, 64]], (160, 40), 4, 32)
    >>> tiles, (tile.rows, tile.cols), tile.size_hw, tile.scale_xy, tile.offset_xy
    ((1, 2), (2, 8), (16, 64), (0.4, 0.4), (0.0, 0.0))
    """
    from transformers.models.llava_next.modeling_llava_next import unpad_image

    w, h = (int(v) for v in image_size_wh)
    hb, wb = select_best_resolution((h, w), pinpoints)
    if hb % side or wb % side:
        raise ValueError(f"LLaVA-NeXT: grid pinpoint {hb}x{wb} is not a multiple of {side}")
    shape_only = np.broadcast_to(np.zeros((), np.uint8), (1, h, w))
    nh, nw = get_patch_output_size(shape_only, (hb, wb), ChannelDimension.FIRST)
    paste_x, paste_y = (wb - nw) // 2, (hb - nh) // 2
    rows_t, cols_t = hb // side, wb // side
    fh, fw = rows_t * g, cols_t * g
    # the family's own unpad on index maps: which feature rows / columns survive
    rr = unpad_image(torch.arange(fh).view(1, fh, 1).expand(1, fh, fw), (h, w))
    cc = unpad_image(torch.arange(fw).view(1, 1, fw).expand(1, fh, fw), (h, w))
    r0, c0 = int(rr[0, 0, 0]), int(cc[0, 0, 0])
    rows, cols = int(rr.shape[1]), int(rr.shape[2])
    px = side / g
    tile = Tile(
        rows,
        cols,
        (int(rows * px), int(cols * px)),
        (nw / w, nh / h),
        (paste_x - c0 * px, paste_y - r0 * px),
    )
    return tile, (rows_t, cols_t)


def anyres_cells(g: int, rows: int, cols: int) -> np.ndarray:
    """(tile, row, col) per image token: base grid, then each map row and its newline slot.

    >>> anyres_cells(1, 2, 1).tolist()
    [[0, 0, 0], [1, 0, 0], [1, -1, -1], [1, 1, 0], [1, -1, -1]]
    """
    base = [(0, r, c) for r in range(g) for c in range(g)]
    grid = [(1, *rc) for r in range(rows) for rc in [*((r, c) for c in range(cols)), NEWLINE]]
    return np.array(base + grid, dtype=np.int64).reshape(-1, 3)


def llava_next_layout(
    input_ids: Any, processor: Any, config: Any, image_size_wh: tuple[int, int]
) -> ImageLayout:
    """Layout of a single-image LLaVA-NeXT prompt (one contiguous run of image tokens)."""
    vc = config.vision_config
    side, g = int(vc.image_size), int(vc.image_size) // int(vc.patch_size)
    if config.vision_feature_select_strategy != "default":
        raise ValueError(
            "LLaVA-NeXT: only vision_feature_select_strategy='default' (CLS dropped) is laid "
            f"out, got {config.vision_feature_select_strategy!r}"
        )
    ip = processor.image_processor
    crop = dict(getattr(ip, "crop_size", None) or {}).get("height", side)
    if int(crop) != side:
        raise ValueError(f"LLaVA-NeXT: crop_size {crop} differs from the vision input {side}")
    base = base_tile(ip, image_size_wh, g, side)
    grid, _ = anyres_map([list(p) for p in config.image_grid_pinpoints], image_size_wh, g, side)
    cells = anyres_cells(g, grid.rows, grid.cols)
    ids = np.asarray(input_ids).reshape(-1)
    positions = np.flatnonzero(ids == config.image_token_id)
    if len(positions) != len(cells):
        raise ValueError(
            f"LLaVA-NeXT: found {len(positions)} image tokens (id {config.image_token_id}), "
            f"expected {g}x{g} base + {grid.rows}x({grid.cols}+1) map = {len(cells)} for one "
            "image (several images, or num_additional_image_tokens / pinpoints mismatch?)"
        )
    size = (int(image_size_wh[0]), int(image_size_wh[1]))
    return ImageLayout(positions, cells, (base, grid), size)
