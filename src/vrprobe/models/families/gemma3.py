"""Gemma 3 (``Gemma3ForConditionalGeneration``): the chat template's image placeholder (the BOI
token) becomes ``"\\n\\n<start_of_image>" + soft tokens + "<end_of_image>\\n\\n"``. The soft
tokens (``config.image_token_id``; ``processor.image_token_id`` is the BOI id) are one
contiguous run on a square ``√mm_tokens_per_image`` grid (SigLIP patches average-pooled),
row-major; boxes through the plain resize to ``size``. Image tokens attend to each other
bidirectionally; sliding-window layers see only the last ``sliding_window`` keys.
"""

from __future__ import annotations

from math import isqrt
from typing import Any

import numpy as np

from vrprobe.models.families.base import FamilyAdapter
from vrprobe.models.families.grids import TESTED, image_token_positions, row_major_cells
from vrprobe.models.families.registry import register
from vrprobe.models.layout import ImageLayout, processor_tile


def gemma3_layout(
    input_ids: Any, processor: Any, config: Any, image_size_wh: tuple[int, int]
) -> ImageLayout:
    """One run of soft tokens on the pooled square grid (no pan-and-scan crops)."""
    if getattr(processor.image_processor, "do_pan_and_scan", False):
        raise NotImplementedError(
            "Gemma 3 with do_pan_and_scan=True (crops as extra images) has no vrprobe layout yet; "
            "load the processor with do_pan_and_scan=False"
        )
    n = int(config.mm_tokens_per_image)
    g = isqrt(n)
    if g * g != n:
        raise ValueError(f"Gemma 3: mm_tokens_per_image {n} is not a square number")
    positions = image_token_positions(input_ids, config.image_token_id, n, "Gemma 3")
    tile = processor_tile(processor.image_processor, image_size_wh, g, g)
    return ImageLayout(positions, row_major_cells(0, g, g), (tile,), tuple(image_size_wh))


@register
class Gemma3Adapter(FamilyAdapter):
    name = "gemma3"
    model_types = ("gemma3",)
    supports = TESTED
    notes = (
        "Gemma 3: soft tokens between BOI/EOI on a pooled square grid; bidirectional image "
        "block; sliding-window layers and soft-capping in capture; no pan-and-scan crops"
    )

    def text_after_image(self, processor: Any) -> str:
        """EOI and two newlines follow the soft tokens."""
        return str(processor.tokenizer.eoi_token) + "\n\n"

    def layout(
        self,
        input_ids: np.ndarray,
        processor: Any,
        config: Any,
        image_size_wh: tuple[int, int],
        inputs: dict,
    ) -> ImageLayout:
        return gemma3_layout(input_ids, processor, config, image_size_wh)
