"""GLM-4.1V, GLM-4.5V (MoE) and GLM-4.6V: grid layout and GLM smart_resize projection, M-RoPE
capture and shared prefill, image-only processor, end to end."""

from __future__ import annotations

import pytest
from transformers.models.glm4v.image_processing_pil_glm4v import smart_resize

from vrprobe.models.families import adapter_for
from vrprobe.models.loading import LoadedModel, load_model
from vrprobe.models.tiny_glm4v import MAX_PIXELS, MIN_PIXELS, tiny_glm4v

from . import mrope_checks
from .helpers import assert_full_processor_preferred, run_end_to_end

FACTOR = 8  # patch 4 x merge 2
VARIANTS = {
    "glm4v": ("glm4v", "Glm4vImageOnlyProcessor"),
    "glm4v_moe": ("glm4v", "Glm4vImageOnlyProcessor"),
    "glm46v": ("glm46v", "Glm46VImageOnlyProcessor"),
}


@pytest.fixture(scope="module", params=list(VARIANTS))
def tiny(request):
    model, processor = tiny_glm4v(variant=request.param)
    assert model.config.model_type == request.param
    return LoadedModel(model, processor, f"tiny-{request.param}", "eager")


@pytest.fixture(scope="module", params=list(VARIANTS))
def saved(request, tmp_path_factory):
    path = tmp_path_factory.mktemp(f"tiny-{request.param}")
    model, processor = tiny_glm4v(variant=request.param)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return request.param, path


# (image size, box in original pixels, resized (h, w)); boxes land on 8-px cell edges
CASES = [
    ((64, 64), (16, 8, 40, 32), (64, 64)),  # square, kept as is
    ((96, 40), (32, 8, 56, 24), (40, 96)),  # wide, kept as is
    ((16, 32), (0, 16, 16, 32), (48, 24)),  # below min_pixels: scaled up 1.5x
    ((256, 64), (64, 16, 128, 48), (32, 128)),  # wide, above max_pixels: 2x down
]


@pytest.mark.parametrize(("size", "box", "hw"), CASES, ids=["square", "wide", "min", "max"])
def test_region_maps_to_its_cells(tiny, size, box, hw):
    resized = smart_resize(2, size[1], size[0], 2, FACTOR, MIN_PIXELS, MAX_PIXELS)
    assert tuple(resized) == hw
    mrope_checks.check_region(tiny, size, box, expected_hw=hw)


def test_capture_matches_eager(tiny):
    mrope_checks.check_capture(tiny)


def test_shared_prefill_and_samples(tiny):
    mrope_checks.check_shared_prefill(tiny)


def test_processor_without_torchvision_and_end_to_end(saved, tmp_path):
    variant, path = saved
    name, processor_name = VARIANTS[variant]
    loaded = load_model(str(path))
    assert loaded.adapter is adapter_for(name) and loaded.model.config.model_type == variant
    assert type(loaded.processor).__name__ == processor_name
    records = run_end_to_end(path, tmp_path, [(40, 30), (32, 32), (24, 48)])
    assert len({(r["grid_rows"], r["grid_cols"]) for r in records}) == 3  # dynamic grids


def test_stock_processor_is_used_when_autoprocessor_has_one(saved, monkeypatch):
    variant, path = saved
    _, processor = tiny_glm4v(variant=variant)
    adapter = adapter_for(variant)
    assert_full_processor_preferred(adapter, path, processor, monkeypatch)
