"""GLM-4.1V (``Glm4vForConditionalGeneration``) and GLM-4.5V (``Glm4vMoeForConditionalGeneration``,
MoE decoder): ``<|begin_of_image|>`` + ``<|image|>`` × (h/2 · w/2) + ``<|end_of_image|>``; LLM
grid from ``image_grid_thw`` merged 2 x 2, row-major; half-rotary M-RoPE. As Qwen-VL (shared
behaviour: ``families.mrope``); GLM's ``smart_resize`` counts the two-frame temporal block and
first scales images with a side under ``patch · merge`` up, which the layout follows by reading
the processor's ``image_grid_thw``."""

from __future__ import annotations

from transformers import Glm4vProcessor

from vrprobe.models.families.mrope import MRopeAdapter
from vrprobe.models.families.registry import register


@register
class Glm4vAdapter(MRopeAdapter):
    name = "glm4v"
    model_types = ("glm4v", "glm4v_moe")
    processor_class = Glm4vProcessor
    family = "GLM-4V"
    notes = (
        "GLM-4.1V / GLM-4.5V (MoE): image_grid_thw grid merged 2x2, row-major; GLM smart_resize; "
        "M-RoPE deltas carried by the shared prefill; image-only processor without torchvision"
    )
