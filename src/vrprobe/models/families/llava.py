"""LLaVA-1.5 (``LlavaForConditionalGeneration``): one contiguous run of image tokens on a
square ``image_size // patch_size`` grid, row-major; boxes through CLIP's resize + crop (and
LLaVA's optional pad-to-square)."""

from __future__ import annotations

from typing import Any

import numpy as np

from vrprobe.models.families.base import FamilyAdapter
from vrprobe.models.families.grids import TESTED
from vrprobe.models.families.registry import register
from vrprobe.models.layout import ImageLayout, llava_layout


@register
class LlavaAdapter(FamilyAdapter):
    name = "llava"
    model_types = ("llava",)
    supports = TESTED
    notes = "LLaVA-1.5 and the bundled demo"

    def layout(
        self,
        input_ids: np.ndarray,
        processor: Any,
        config: Any,
        image_size_wh: tuple[int, int],
        inputs: dict,
    ) -> ImageLayout:
        return llava_layout(input_ids, processor, config, image_size_wh)
