"""LLaVA-NeXT / v1.6 (``LlavaNextForConditionalGeneration``): base image grid, then the any-res
map (tiles joined, padding removed by ``unpad_image``) row by row with one newline slot per row;
one contiguous run of ``config.image_token_id``. Geometry: ``models.layout_anyres``.

Spatial signals use layout tile 0, the base image (the whole image at one tile's resolution,
comparable across aspect ratios); evidence cells cover the base grid and the any-res map.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vrprobe.models.families.base import FamilyAdapter
from vrprobe.models.families.grids import TESTED
from vrprobe.models.families.registry import register
from vrprobe.models.layout import ImageLayout
from vrprobe.models.layout_anyres import llava_next_layout


@register
class LlavaNextAdapter(FamilyAdapter):
    name = "llava_next"
    model_types = ("llava_next",)
    supports = TESTED
    notes = (
        "LLaVA-NeXT (v1.6): base grid + any-res tiles (unpadded, newline slot per row); "
        "spatial signals on the base image"
    )

    def layout(
        self,
        input_ids: np.ndarray,
        processor: Any,
        config: Any,
        image_size_wh: tuple[int, int],
        inputs: dict,
    ) -> ImageLayout:
        return llava_next_layout(input_ids, processor, config, image_size_wh)
