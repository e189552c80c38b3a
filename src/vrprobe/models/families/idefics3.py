"""Idefics3 and SmolVLM (``Idefics3ForConditionalGeneration``, ``SmolVLMForConditionalGeneration``).

Image tokens are **not contiguous**. With image splitting the processor writes, per crop and
row by row, ``<fake_token_around_image><row_r_col_c>`` + N ``<image>`` tokens (a newline after
each row of crops), then ``"\\n<fake_token_around_image><global-img>"`` + N ``<image>`` +
``<fake_token_around_image>`` for the global image; without crops only the global block.

Geometry (the image processor's own arithmetic): resize so the longest edge is
``size["longest_edge"]`` (aspect kept, even side), resize up to multiples of the tile side
``M = max_image_size["longest_edge"]``, cut ``rows × cols`` crops of ``M × M`` row by row, and
resize the whole image to ``M × M`` for the global image. Each block's vision grid is
pixel-shuffled ``scale_factor × scale_factor`` to ``g × g`` tokens, row-major.

Layout tile 0 is the global image (the grid spatial signals use); tiles 1.. are the crops in
sequence order.
"""

from __future__ import annotations

import math
from math import isqrt
from types import SimpleNamespace
from typing import Any

import numpy as np
from transformers import SmolVLMProcessor

from vrprobe.models.families.base import FamilyAdapter
from vrprobe.models.families.grids import TESTED, image_token_positions, row_major_cells
from vrprobe.models.families.registry import register
from vrprobe.models.layout import ImageLayout, Tile


class SmolVLMImageProcessor(SmolVLMProcessor):
    """``SmolVLMProcessor`` without its video processor (which needs torchvision); the chat
    template only reads ``video_processor.num_frames`` / ``fps``, given their defaults."""

    def __init__(
        self,
        image_processor: Any = None,
        tokenizer: Any = None,
        image_seq_len: int = 169,
        chat_template: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(image_processor, tokenizer, None, image_seq_len, chat_template, **kwargs)
        self.video_processor = SimpleNamespace(num_frames=64, fps=1)


def _longest_edge(size: Any) -> int:
    return int(size["longest_edge"])


def split_geometry(
    image_processor: Any, image_size_wh: tuple[int, int]
) -> tuple[int, int, int, int]:
    """(rows, cols, height, width) of the crop canvas the processor cuts; rows = cols = 0 when
    there are no crops (only the global image).

    >>> class Ip:
    ...     do_resize, do_image_splitting = True, True
    ...     size, max_image_size = {"longest_edge": 64}, {"longest_edge": 32}
    >>> split_geometry(Ip(), (100, 50)), split_geometry(Ip(), (20, 20))
    ((1, 2, 32, 64), (2, 2, 64, 64))
    """
    from transformers.models.idefics3.image_processing_pil_idefics3 import (
        get_resize_output_image_size,
    )

    ip = image_processor
    w, h = (int(v) for v in image_size_wh)
    m = _longest_edge(ip.max_image_size)
    if getattr(ip, "do_resize", True):
        size = ip.size
        if size.get("longest_edge"):
            shape_only = np.broadcast_to(np.zeros((), np.uint8), (1, h, w))
            h, w = get_resize_output_image_size(
                shape_only, resolution_max_side=int(size["longest_edge"])
            )
        else:
            h, w = int(size["height"]), int(size["width"])
    if not getattr(ip, "do_image_splitting", True):
        return 0, 0, m, m
    if w >= h:  # resize_for_vision_encoder
        w2 = math.ceil(w / m) * m
        h2 = math.ceil(int(w2 / (w / h)) / m) * m
    else:
        h2 = math.ceil(h / m) * m
        w2 = math.ceil(int(h2 * (w / h)) / m) * m
    if h2 > m or w2 > m:
        return (h2 - m) // m + 1, (w2 - m) // m + 1, h2, w2
    return 0, 0, h2, w2


def idefics3_layout(
    input_ids: Any, processor: Any, config: Any, image_size_wh: tuple[int, int]
) -> ImageLayout:
    ip = processor.image_processor
    n = int(processor.image_seq_len)
    g = isqrt(n)
    vc = config.vision_config
    m = _longest_edge(ip.max_image_size)
    expected = int(vc.image_size) // int(vc.patch_size) // int(config.scale_factor)
    if g * g != n or g != expected or int(vc.image_size) != m:
        raise ValueError(
            f"{type(config).__name__}: image_seq_len {n} / tile side {m} do not match the vision "
            f"grid ({vc.image_size} / {vc.patch_size} / {config.scale_factor})^2 = {expected**2}"
        )
    w, h = (int(v) for v in image_size_wh)
    rows, cols, h2, w2 = split_geometry(ip, (w, h))
    tiles = [Tile(g, g, (m, m), (m / w, m / h))]  # the global image
    for r in range(rows):
        for c in range(cols):
            tiles.append(Tile(g, g, (m, m), (w2 / w, h2 / h), (float(-c * m), float(-r * m))))
    order = [*range(1, len(tiles)), 0]
    name = type(config).__name__.removesuffix("Config")
    positions = image_token_positions(input_ids, config.image_token_id, n * len(order), name)
    cells = np.concatenate([row_major_cells(t, g, g) for t in order])
    return ImageLayout(positions, cells, tuple(tiles), (w, h))


@register
class Idefics3Adapter(FamilyAdapter):
    name = "idefics3"
    model_types = ("idefics3",)
    supports = TESTED
    notes = (
        "Idefics3: non-contiguous image tokens (per crop <fake><row_r_col_c> + N, then the "
        "global image); spatial signals on the global image"
    )

    def text_after_image(self, processor: Any) -> str:
        """The global image's closing ``<fake_token_around_image>``."""
        return str(processor.fake_image_token)

    def layout(
        self,
        input_ids: np.ndarray,
        processor: Any,
        config: Any,
        image_size_wh: tuple[int, int],
        inputs: dict,
    ) -> ImageLayout:
        return idefics3_layout(input_ids, processor, config, image_size_wh)


@register
class SmolVLMAdapter(Idefics3Adapter):
    name = "smolvlm"
    model_types = ("smolvlm",)
    notes = (
        "SmolVLM/SmolVLM2: Idefics3 layout; image-only processor without torchvision "
        "(needs num2words)"
    )

    def load_processor(self, source: str, **kwargs: Any) -> Any:
        """``AutoProcessor`` when it yields a full processor (torchvision installed), else the
        image-only processor from the saved tokenizer and image processor."""
        from transformers import AutoProcessor, AutoTokenizer
        from transformers.models.smolvlm.image_processing_pil_smolvlm import (
            SmolVLMImageProcessorPil,
        )

        from vrprobe.models.families.internvl import processor_config

        try:
            processor = AutoProcessor.from_pretrained(source, **kwargs)
        except (ImportError, ValueError, TypeError):
            processor = None
        if processor is not None and hasattr(processor, "image_processor"):
            return processor
        tok = AutoTokenizer.from_pretrained(source, **kwargs)
        ip = SmolVLMImageProcessorPil.from_pretrained(source, **kwargs)
        extra = processor_config(source)
        template = getattr(tok, "chat_template", None) or extra.get("chat_template")
        return SmolVLMImageProcessor(ip, tok, int(extra.get("image_seq_len", 169)), template)
