"""Qwen3-VL (interleaved M-RoPE, deepstack): grid layout, smart_resize, M-RoPE capture, prefill."""

from __future__ import annotations

import pytest
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

from vrprobe.models.families import adapter_for
from vrprobe.models.loading import LoadedModel, load_model
from vrprobe.models.tiny_qwen_vl import MAX_PIXELS, MIN_PIXELS, tiny_qwen3_vl

from . import mrope_checks
from .helpers import assert_full_processor_preferred, run_end_to_end

FACTOR = 16  # patch 8 x merge 2


@pytest.fixture(scope="module")
def tiny():
    model, processor = tiny_qwen3_vl()
    return LoadedModel(model, processor, "tiny-qwen3-vl", "eager")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny-qwen3-vl")
    model, processor = tiny_qwen3_vl()
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


# (image size, box in original pixels, resized (h, w)); boxes land on 16-px cell edges
CASES = [
    ((64, 64), (16, 16, 48, 32), (64, 64)),  # square, kept as is
    ((96, 32), (32, 0, 64, 16), (32, 96)),  # wide, kept as is
    ((32, 96), (0, 32, 16, 64), (96, 32)),  # tall
    ((32, 16), (0, 0, 32, 8), (32, 48)),  # below min_pixels: scaled up 1.5 x 2
    ((128, 128), (32, 32, 96, 64), (64, 64)),  # above max_pixels: scaled down 2x
    ((256, 64), (64, 32, 128, 64), (32, 128)),  # wide, above max_pixels: 2x down
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
    assert loaded.adapter is adapter_for("qwen3_vl")
    assert type(loaded.processor).__name__ == "Qwen3VLImageOnlyProcessor"
    assert loaded.processor.chat_template and loaded.processor.image_processor.patch_size == 8


def test_stock_processor_is_used_when_autoprocessor_has_one(tiny, saved, monkeypatch):
    assert_full_processor_preferred(adapter_for("qwen3_vl"), saved, tiny.processor, monkeypatch)


def test_end_to_end_run(saved, tmp_path):
    records = run_end_to_end(saved, tmp_path, [(64, 32), (32, 32), (32, 64)])
    assert len({(r["grid_rows"], r["grid_cols"]) for r in records}) == 3  # dynamic grids
