"""Shared adapter for M-RoPE families with ``image_grid_thw`` grids (Qwen2/2.5/3-VL, GLM-4V).

The image placeholder becomes one contiguous run of ``config.image_token_id`` tokens: the
vision patch grid ``image_grid_thw = (t, h, w)`` (in patches) merged ``m × m``
(``spatial_merge_size``, 2) to an LLM grid of ``(h / m) × (w / m)`` tokens, row-major. The
processor resizes the image straight to ``(h · patch, w · patch)`` pixels (its ``smart_resize``
with min / max pixels: sides multiples of ``patch · m``, aspect ratio about kept, no crop or
pad), so a box maps to cells by two scale factors read from the processor's own output.
The one layout tile is that LLM grid (the spatial signals use it).

Processors: these processors are video-capable; without torchvision ``AutoProcessor`` silently
returns only the tokenizer. The adapter then loads an image-only subclass (no video processor)
from the same folder; with torchvision the stock processor is used as is.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from vrprobe.models.families.base import FamilyAdapter
from vrprobe.models.families.grids import TESTED, image_token_positions, row_major_cells
from vrprobe.models.layout import ImageLayout, Tile


def image_only(processor_cls: type) -> type:
    """A subclass of a video-capable processor without its video processor (torchvision).

    >>> from transformers import Qwen2VLProcessor
    >>> image_only(Qwen2VLProcessor).__name__
    'Qwen2VLImageOnlyProcessor'
    """

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        processor_cls.__init__(
            self, image_processor, tokenizer, None, chat_template=chat_template, **kwargs
        )

    def to_dict(self) -> dict:  # saved as the stock class: AutoProcessor finds it elsewhere
        return {**processor_cls.to_dict(self), "processor_class": processor_cls.__name__}

    name = processor_cls.__name__.removesuffix("Processor") + "ImageOnlyProcessor"
    doc = f"``{processor_cls.__name__}`` for images only (no video processor, no torchvision)."
    attrs = {"__init__": __init__, "__doc__": doc, "to_dict": to_dict}
    return type(name, (processor_cls,), attrs)


def grid_layout(
    input_ids: Any, config: Any, grid_thw: Any, image_size_wh: tuple[int, int], family: str
) -> ImageLayout:
    """Layout from the processor's ``image_grid_thw`` row of one image.

    >>> cfg = type("C", (), {"image_token_id": 7, "vision_config": type("V", (), {
    ...     "spatial_merge_size": 2, "patch_size": 4})()})()
    >>> lay = grid_layout([1] + [7] * 6 + [2], cfg, (1, 4, 6), (48, 32), "x")
    >>> lay.positions.tolist(), lay.grids, lay.tiles[0].size_hw, lay.tiles[0].scale_xy
    ([1, 2, 3, 4, 5, 6], ((2, 3),), (16, 24), (0.5, 0.5))
    """
    vc = config.vision_config
    merge, patch = int(vc.spatial_merge_size), int(vc.patch_size)
    t, h, w = (int(v) for v in np.asarray(grid_thw).reshape(-1)[:3])
    if t != 1 or h % merge or w % merge:
        raise ValueError(f"{family}: image_grid_thw {(t, h, w)} is no single-frame image grid")
    rows, cols = h // merge, w // merge
    positions = image_token_positions(input_ids, config.image_token_id, rows * cols, family)
    iw, ih = (int(v) for v in image_size_wh)
    tile = Tile(rows, cols, (h * patch, w * patch), (w * patch / iw, h * patch / ih))
    return ImageLayout(positions, row_major_cells(0, rows, cols), (tile,), (iw, ih))


class MRopeAdapter(FamilyAdapter):
    """Qwen-style family: image-only processor fallback, ``image_grid_thw`` layout."""

    supports = TESTED
    processor_class: ClassVar[type]  # the stock, video-capable processor class
    family: ClassVar[str] = "M-RoPE"

    def load_processor(self, source: str, **kwargs: Any) -> Any:
        """``AutoProcessor`` when it yields a full processor (torchvision installed), else the
        image-only subclass from the same folder (tokenizer, image processor, chat template)."""
        from transformers import AutoProcessor

        try:
            processor = AutoProcessor.from_pretrained(source, **kwargs)
        except (ImportError, ValueError, TypeError, AttributeError, OSError):
            processor = None
        if processor is not None and hasattr(processor, "image_processor"):
            return processor
        built = image_only(self.processor_class).from_pretrained(source, **kwargs)
        if not hasattr(built, "image_processor") or not getattr(built, "chat_template", None):
            raise ValueError(f"{self.family}: {source} has no image processor or chat template")
        return built

    def generate_inputs(self, inputs: dict) -> dict:
        """M-RoPE needs ``mm_token_type_ids`` next to ``image_grid_thw`` (3-D positions)."""
        if "image_grid_thw" in inputs and "mm_token_type_ids" not in inputs:
            raise ValueError(
                f"{self.family}: the processor returned no mm_token_type_ids; M-RoPE positions "
                "cannot be computed (upgrade transformers or pass return_mm_token_type_ids)"
            )
        return inputs

    def layout(
        self,
        input_ids: np.ndarray,
        processor: Any,
        config: Any,
        image_size_wh: tuple[int, int],
        inputs: dict,
    ) -> ImageLayout:
        grid = inputs.get("image_grid_thw")
        if grid is None or len(grid) != 1:
            raise ValueError(f"{self.family}: expected image_grid_thw for exactly one image")
        return grid_layout(input_ids, config, grid[0].tolist(), image_size_wh, self.family)
