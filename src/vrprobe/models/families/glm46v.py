"""GLM-4.6V (``Glm46VForConditionalGeneration``): the GLM-4.1V decoder and vision tower behind
``Glm46VProcessor``; same layout and M-RoPE handling (``families.mrope``)."""

from __future__ import annotations

from transformers import Glm46VProcessor

from vrprobe.models.families.mrope import MRopeAdapter
from vrprobe.models.families.registry import register


@register
class Glm46VAdapter(MRopeAdapter):
    name = "glm46v"
    model_types = ("glm46v",)
    processor_class = Glm46VProcessor
    family = "GLM-4.6V"
    notes = (
        "GLM-4.6V: as GLM-4.1V (image_grid_thw grid merged 2x2, M-RoPE); image-only "
        "processor without torchvision"
    )
