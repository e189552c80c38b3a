"""Qwen2.5-VL (windowed vision attention): grid layout, smart_resize, M-RoPE capture, prefill."""

from __future__ import annotations

import pytest
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

from vrprobe.models.families import adapter_for
from vrprobe.models.loading import LoadedModel, load_model
from vrprobe.models.tiny_qwen_vl import MAX_PIXELS, MIN_PIXELS, tiny_qwen2_5_vl

from . import mrope_checks
from .helpers import assert_full_processor_preferred, run_end_to_end

FACTOR = 8  # patch 4 x merge 2


@pytest.fixture(scope="module")
def tiny():
    model, processor = tiny_qwen2_5_vl()
    return LoadedModel(model, processor, "tiny-qwen2.5-vl", "eager")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny-qwen2.5-vl")
    model, processor = tiny_qwen2_5_vl()
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


# (image size, box in original pixels, resized (h, w)); boxes land on 8-px cell edges
CASES = [
    ((64, 64), (16, 8, 40, 32), (64, 64)),  # square, kept as is
    ((96, 40), (32, 8, 56, 24), (40, 96)),  # wide, kept as is
    ((40, 96), (8, 32, 24, 56), (96, 40)),  # tall
    ((16, 32), (0, 16, 16, 32), (48, 24)),  # below min_pixels: scaled up 1.5x
    ((128, 128), (32, 16, 80, 48), (64, 64)),  # above max_pixels: scaled down 2x
    ((256, 64), (64, 16, 128, 48), (32, 128)),  # wide, above max_pixels: 2x down
]


IDS = ["square", "wide", "tall", "min-pixels", "max-square", "max-wide"]


@pytest.mark.parametrize(("size", "box", "hw"), CASES, ids=IDS)
def test_region_maps_to_its_cells(tiny, size, box, hw):
    assert smart_resize(size[1], size[0], FACTOR, MIN_PIXELS, MAX_PIXELS) == hw
    mrope_checks.check_region(tiny, size, box, expected_hw=hw)


def test_capture_matches_eager(tiny):
    mrope_checks.check_capture(tiny)


def test_shared_prefill_and_samples(tiny):
    mrope_checks.check_shared_prefill(tiny)


def test_processor_without_torchvision(saved):
    loaded = load_model(str(saved))
    assert loaded.adapter is adapter_for("qwen2_5_vl")
    assert type(loaded.processor).__name__ == "Qwen2_5_VLImageOnlyProcessor"
    assert loaded.processor.chat_template and loaded.processor.image_processor.patch_size == 4


def test_stock_processor_is_used_when_autoprocessor_has_one(tiny, saved, monkeypatch):
    assert_full_processor_preferred(adapter_for("qwen2_5_vl"), saved, tiny.processor, monkeypatch)


def test_end_to_end_run(saved, tmp_path):
    records = run_end_to_end(saved, tmp_path, [(40, 30), (32, 32), (24, 48)])
    assert len({(r["grid_rows"], r["grid_cols"]) for r in records}) == 3  # dynamic grids
