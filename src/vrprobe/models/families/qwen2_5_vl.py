"""Qwen2.5-VL (``Qwen2_5_VLForConditionalGeneration``): as Qwen2-VL (``<|image_pad|>`` run,
``image_grid_thw`` merged 2 x 2, row-major, M-RoPE); the vision tower's window attention
reorders patches internally and restores their order, so the layout is unchanged."""

from __future__ import annotations

from transformers import Qwen2_5_VLProcessor

from vrprobe.models.families.mrope import MRopeAdapter
from vrprobe.models.families.registry import register


@register
class Qwen2_5_VLAdapter(MRopeAdapter):
    name = "qwen2_5_vl"
    model_types = ("qwen2_5_vl",)
    processor_class = Qwen2_5_VLProcessor
    family = "Qwen2.5-VL"
    notes = (
        "Qwen2.5-VL: image_grid_thw grid merged 2x2, row-major; smart_resize (min/max pixels); "
        "M-RoPE deltas carried by the shared prefill; image-only processor without torchvision"
    )
