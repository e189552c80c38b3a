"""Qwen3-VL (``Qwen3VLForConditionalGeneration``): ``<|image_pad|>`` run, ``image_grid_thw``
(patch 16) merged 2 x 2, row-major; interleaved M-RoPE; deepstack visual features are added to
the first decoder layers' image positions (same positions, so the layout is unchanged)."""

from __future__ import annotations

from transformers import Qwen3VLProcessor

from vrprobe.models.families.mrope import MRopeAdapter
from vrprobe.models.families.registry import register


@register
class Qwen3VLAdapter(MRopeAdapter):
    name = "qwen3_vl"
    model_types = ("qwen3_vl",)
    processor_class = Qwen3VLProcessor
    family = "Qwen3-VL"
    notes = (
        "Qwen3-VL: image_grid_thw grid (patch 16) merged 2x2, row-major; interleaved M-RoPE "
        "deltas carried by the shared prefill; image-only processor without torchvision"
    )
