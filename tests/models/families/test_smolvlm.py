"""SmolVLM: the Idefics3 checks, collected again here with ``family = "smolvlm"`` (a tiny
SmolVLM with the image-only processor)."""

from __future__ import annotations

import pytest

from .test_idefics3 import (  # noqa: F401
    saved,
    test_capture_matches_eager,
    test_end_to_end_run,
    test_load_model_keeps_the_image_processor,
    test_pixel_shuffle_is_row_major_2x2,
    test_region_maps_to_its_cells,
    test_shared_prefill_equals_plain_generate,
    test_stock_processor_is_used_when_autoprocessor_has_one,
    tiny,
)


@pytest.fixture(scope="module")
def family():
    return "smolvlm"
