"""Qwen2-VL (``Qwen2VLForConditionalGeneration``): ``<|vision_start|>`` + ``<|image_pad|>`` ×
(h/2 · w/2) + ``<|vision_end|>``; LLM grid from ``image_grid_thw`` (patch 14, merge 2), row-major;
M-RoPE positions. Shared behaviour: ``families.mrope``."""

from __future__ import annotations

from transformers import Qwen2VLProcessor

from vrprobe.models.families.mrope import MRopeAdapter
from vrprobe.models.families.registry import register


@register
class Qwen2VLAdapter(MRopeAdapter):
    name = "qwen2_vl"
    model_types = ("qwen2_vl",)
    processor_class = Qwen2VLProcessor
    family = "Qwen2-VL"
    notes = (
        "Qwen2-VL: image_grid_thw grid merged 2x2, row-major; smart_resize (min/max pixels); "
        "M-RoPE deltas carried by the shared prefill; image-only processor without torchvision"
    )
