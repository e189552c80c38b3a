"""PaliGemma 1/2 (``PaliGemmaForConditionalGeneration``): image tokens first (positions
0..N-1), then BOS, the prompt and a newline; no chat template. Image and prompt form one
bidirectional prefix (``token_type_ids == 0``), generated tokens are causal. Grid: square
√N, row-major; boxes through SigLIP's plain resize to ``size`` (no crop, no pad).
"""

from __future__ import annotations

from math import isqrt
from typing import Any

import numpy as np

from vrprobe.models.families.base import FamilyAdapter
from vrprobe.models.families.grids import TESTED, image_token_positions, row_major_cells
from vrprobe.models.families.registry import register
from vrprobe.models.layout import ImageLayout, processor_tile

# Real PaliGemma checkpoints are trained with task prefixes ("answer en", "caption en", ...).
PROMPT = "<image>answer en {question}"


def paligemma_layout(
    input_ids: Any, processor: Any, config: Any, image_size_wh: tuple[int, int]
) -> ImageLayout:
    """One run of ``config.image_token_id`` on a square grid of ``image_seq_length`` cells."""
    n = int(processor.image_seq_length)
    g = isqrt(n)
    if g * g != n:
        raise ValueError(f"PaliGemma: image_seq_length {n} is not a square number of patches")
    positions = image_token_positions(input_ids, config.image_token_id, n, "PaliGemma")
    tile = processor_tile(processor.image_processor, image_size_wh, g, g)
    return ImageLayout(positions, row_major_cells(0, g, g), (tile,), tuple(image_size_wh))


@register
class PaliGemmaAdapter(FamilyAdapter):
    name = "paligemma"
    model_types = ("paligemma",)
    supports = TESTED
    notes = (
        "PaliGemma 1/2: plain 'answer en {question}' prompt (no chat template); image + prompt "
        "are one bidirectional prefix; square SigLIP grid"
    )
    bidirectional_prompt = True
    position_offset = 1  # PaliGemma positions count from 1

    def prompt(self, processor: Any, question: str) -> str:
        """The processor adds BOS after the image tokens and the trailing newline itself."""
        return PROMPT.format(question=question)

    def generate_inputs(self, inputs: dict) -> dict:
        """Keep ``token_type_ids`` (they make the prefix bidirectional); drop training labels."""
        return {k: v for k, v in inputs.items() if k != "labels"}

    def text_after_image(self, processor: Any) -> str:
        """BOS follows the image tokens."""
        return str(processor.tokenizer.bos_token)

    def layout(
        self,
        input_ids: np.ndarray,
        processor: Any,
        config: Any,
        image_size_wh: tuple[int, int],
        inputs: dict,
    ) -> ImageLayout:
        return paligemma_layout(input_ids, processor, config, image_size_wh)
