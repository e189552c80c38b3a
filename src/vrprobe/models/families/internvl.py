"""InternVL 2.5 / 3 (``InternVLForConditionalGeneration``): the image placeholder becomes
``<img>`` + ``<IMG_CONTEXT>`` × (tiles · per-tile tokens) + ``</img>``, one contiguous run.

Tiles: ``GotOcr2ImageProcessor(crop_to_patches=True)`` resizes the image to ``cols × rows``
tiles (``get_optimal_tiled_canvas``, which returns **(cols, rows)**), cut row by row, then adds
a thumbnail (the whole image resized to one tile) when there is more than one tile. Each tile's
vision grid is pixel-shuffled 2 × 2 (``downsample_ratio`` 0.5) to ``g × g`` tokens, row-major.

Layout tile 0 is the thumbnail (the whole image), or the only tile: that is the grid the
spatial signals use. Tiles 1.. are the crops in sequence order.
"""

from __future__ import annotations

import json
from math import isqrt
from pathlib import Path
from typing import Any

import numpy as np
from transformers import InternVLProcessor

from vrprobe.models.families.base import FamilyAdapter
from vrprobe.models.families.grids import TESTED, image_token_positions, row_major_cells
from vrprobe.models.families.registry import register
from vrprobe.models.layout import ImageLayout, Tile


class InternVLImageProcessor(InternVLProcessor):
    """``InternVLProcessor`` without its video processor (which needs torchvision)."""

    def __init__(
        self,
        image_processor: Any = None,
        tokenizer: Any = None,
        image_seq_length: int = 256,
        chat_template: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(image_processor, tokenizer, None, image_seq_length, chat_template,
                         **kwargs)  # fmt: skip


def tile_grid(image_processor: Any, image_size_wh: tuple[int, int]) -> tuple[int, int]:
    """(rows, cols) of crops the processor cuts; (1, 1) without ``crop_to_patches``."""
    from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import (
        get_optimal_tiled_canvas,
    )

    ip = image_processor
    if not (getattr(ip, "crop_to_patches", False) and int(ip.max_patches) > 1):
        return 1, 1
    w, h = image_size_wh
    size = ip.size
    th, tw = int(size["height"]), int(size["width"])
    cols, rows = get_optimal_tiled_canvas((h, w), (th, tw), int(ip.min_patches),
                                          int(ip.max_patches))  # fmt: skip
    return int(rows), int(cols)


def internvl_tiles(
    image_processor: Any, image_size_wh: tuple[int, int], g: int
) -> tuple[tuple[Tile, ...], list[int]]:
    """Layout tiles (thumbnail or single tile first) and the tile index of each sequence block.

    >>> class Ip:
    ...     crop_to_patches, min_patches, max_patches = True, 1, 6
    ...     size = {"height": 32, "width": 32}
    >>> tiles, order = internvl_tiles(Ip(), (64, 32), 4)  # wide: 2 columns x 1 row + thumbnail
    >>> [(t.scale_xy, t.offset_xy) for t in tiles], order
    ([((0.5, 1.0), (0.0, 0.0)), ((1.0, 1.0), (0.0, 0.0)), ((1.0, 1.0), (-32.0, 0.0))], [1, 2, 0])
    """
    w, h = (int(v) for v in image_size_wh)
    size = image_processor.size
    th, tw = int(size["height"]), int(size["width"])
    rows, cols = tile_grid(image_processor, (w, h))
    whole = Tile(g, g, (th, tw), (tw / w, th / h))
    if rows * cols == 1:
        return (whole,), [0]
    sx, sy = cols * tw / w, rows * th / h
    crops = tuple(
        Tile(g, g, (th, tw), (sx, sy), (float(-c * tw), float(-r * th)))
        for r in range(rows)
        for c in range(cols)
    )
    return (whole, *crops), [*range(1, rows * cols + 1), 0]


def internvl_layout(
    input_ids: Any, processor: Any, config: Any, image_size_wh: tuple[int, int]
) -> ImageLayout:
    n = int(processor.image_seq_length)
    g = isqrt(n)
    vc = config.vision_config
    image_size = vc.image_size if isinstance(vc.image_size, int) else vc.image_size[0]
    patch = vc.patch_size if isinstance(vc.patch_size, int) else vc.patch_size[0]
    expected = int(image_size // patch * config.downsample_ratio)
    if g * g != n or g != expected:
        raise ValueError(
            f"InternVL: image_seq_length {n} does not match the vision grid ({image_size} / "
            f"{patch} * {config.downsample_ratio})^2 = {expected**2}"
        )
    tiles, order = internvl_tiles(processor.image_processor, image_size_wh, g)
    positions = image_token_positions(input_ids, config.image_token_id, n * len(order), "InternVL")
    cells = np.concatenate([row_major_cells(t, g, g) for t in order])
    return ImageLayout(positions, cells, tiles, (int(image_size_wh[0]), int(image_size_wh[1])))


@register
class InternVLAdapter(FamilyAdapter):
    name = "internvl"
    model_types = ("internvl",)
    supports = TESTED
    notes = (
        "InternVL 2.5/3 (HF format): tiles + thumbnail, 2x2 pixel shuffle; spatial signals on "
        "the thumbnail; image-only processor without torchvision"
    )

    def load_processor(self, source: str, **kwargs: Any) -> Any:
        """``AutoProcessor`` when it yields a full processor (torchvision installed), else the
        image-only processor from the saved tokenizer and image processor."""
        from transformers import AutoProcessor, AutoTokenizer
        from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import (
            GotOcr2ImageProcessorPil,
        )

        try:
            processor = AutoProcessor.from_pretrained(source, **kwargs)
        except (ImportError, ValueError, TypeError):
            processor = None
        if processor is not None and hasattr(processor, "image_processor"):
            return processor
        tok = AutoTokenizer.from_pretrained(source, **kwargs)
        ip = GotOcr2ImageProcessorPil.from_pretrained(source, **kwargs)
        extra = processor_config(source)
        return InternVLImageProcessor(
            ip, tok, image_seq_length=int(extra.get("image_seq_length", 256)),
            chat_template=getattr(tok, "chat_template", None) or extra.get("chat_template"),
        )  # fmt: skip

    def text_after_image(self, processor: Any) -> str:
        """``</img>`` closes the image-token run."""
        return str(processor.end_image_token)

    def layout(
        self,
        input_ids: np.ndarray,
        processor: Any,
        config: Any,
        image_size_wh: tuple[int, int],
        inputs: dict,
    ) -> ImageLayout:
        return internvl_layout(input_ids, processor, config, image_size_wh)


def processor_config(source: str) -> dict:
    path = Path(source) / "processor_config.json"
    if not path.is_file():
        from huggingface_hub import hf_hub_download

        try:
            path = Path(hf_hub_download(source, "processor_config.json"))
        except Exception:  # no such file or no network: the documented default
            return {}
    return json.loads(path.read_text())
