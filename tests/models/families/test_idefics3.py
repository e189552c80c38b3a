"""Idefics3 (and SmolVLM, via test_smolvlm.py): non-contiguous crops + global image layout,
pixel-shuffle order, capture vs eager, processor loading, end to end."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vrprobe.capture.engine import CaptureRequest
from vrprobe.models.families import adapter_for
from vrprobe.models.families.idefics3 import split_geometry
from vrprobe.models.loading import LoadedModel, load_model
from vrprobe.models.prepare import prepare
from vrprobe.models.tiny_idefics3 import tiny_idefics3

from .helpers import (
    assert_capture_matches_eager,
    assert_cells_follow_pixels,
    assert_each_token_one_cell,
    assert_shared_prefill_exact,
    box_image,
    cell_means,
    eager_reference,
    noise_image,
    run_end_to_end,
    unnormalise,
)

STEPS = 5
N = 16  # tokens per block: 32 px tiles, patch 4, 2 x 2 shuffle


@pytest.fixture(scope="module")
def family():
    return "idefics3"


@pytest.fixture(scope="module")
def tiny(family):
    model, processor = tiny_idefics3(family)
    return LoadedModel(model, processor, f"tiny-{family}", "eager")


@pytest.fixture(scope="module")
def saved(tmp_path_factory, family):
    path = tmp_path_factory.mktemp(f"tiny-{family}")
    model, processor = tiny_idefics3(family)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


def test_pixel_shuffle_is_row_major_2x2(tiny):
    g = 8
    rr, cc = np.divmod(np.arange(g * g), g)
    feats = torch.tensor(np.stack([rr, cc], 1), dtype=torch.float32).reshape(1, g * g, 2)
    out = tiny.model.model.connector.pixel_shuffle(feats, 2)[0].numpy()
    for k, (i, j) in enumerate(np.ndindex(g // 2, g // 2)):
        rows, cols = out[k, 0::2], out[k, 1::2]
        assert set(rows) == {2 * i, 2 * i + 1} and set(cols) == {2 * j, 2 * j + 1}, k


CASES = [
    ((64, 64), (16, 16, 48, 32), (2, 2)),
    ((128, 64), (32, 16, 64, 48), (1, 2)),
    ((64, 128), (16, 32, 48, 64), (2, 1)),
    ((40, 40), (10, 10, 30, 20), (0, 0)),  # longest edge 32 = one tile: the global image only
]


@pytest.mark.parametrize(("size", "box", "grid"), CASES, ids=["square", "wide", "tall", "single"])
def test_region_maps_to_its_cells(tiny, size, box, grid):
    ip = tiny.processor.image_processor
    old = ip.size
    if grid == (0, 0):
        ip.size = {"longest_edge": 32}
    try:
        image = box_image(size, box)
        info = ip(image, return_row_col_info=True)
        assert (info["rows"][0][0], info["cols"][0][0]) == grid == split_geometry(ip, size)[:2]
        prep = prepare(tiny, image, "where?")
    finally:
        ip.size = old
    lay = prep.layout
    n_blocks = grid[0] * grid[1] + 1
    assert len(lay.tiles) == n_blocks and len(lay.positions) == N * n_blocks
    assert lay.tiles[0].scale_xy == (32 / size[0], 32 / size[1])  # tile 0: the global image
    assert_each_token_one_cell(lay)
    ids = prep.inputs["input_ids"][0].numpy()
    gaps = np.flatnonzero(np.diff(lay.positions) > 1)
    assert len(gaps) == n_blocks - 1  # one run per block, separated by fake/row-col tokens
    fake = tiny.processor.tokenizer.convert_tokens_to_ids(tiny.processor.fake_image_token)
    for start in (lay.positions[0], *lay.positions[gaps + 1]):
        assert fake in ids[start - 2 : start]  # each run opens with <fake>[<row_r_col_c>|<global>]
    pv = prep.inputs["pixel_values"][0].numpy()
    block_tile = lay.cells[::N, 0]
    means = {int(t): cell_means(unnormalise(pv[k], ip), 4, 4) for k, t in enumerate(block_tile)}
    assert_cells_follow_pixels(lay, box, means)
    assert len(lay.box_to_cells(box, "all")) > 0


def test_capture_matches_eager(tiny):
    prep = prepare(tiny, noise_image((56, 40)), "which shape is red?")
    pos = prep.layout.positions
    assert len(pos) == 5 * N and (np.diff(pos) > 1).sum() == 4  # not contiguous
    tok = tiny.processor.tokenizer
    q = tok.decode(prep.inputs["input_ids"][0][prep.sections["question"]])
    assert q.strip() == "which shape is red?"
    ref = eager_reference(tiny.model, prep.inputs, STEPS)
    req = CaptureRequest(pos, prep.sections)
    assert_capture_matches_eager(tiny.model, prep.inputs, req, ref, STEPS)


def test_load_model_keeps_the_image_processor(saved, family):
    loaded = load_model(str(saved))
    assert loaded.adapter is adapter_for(family)
    assert hasattr(loaded.processor, "image_processor") and loaded.processor.chat_template
    assert loaded.processor.image_seq_len == N


def test_end_to_end_run(saved, tmp_path):
    records = run_end_to_end(saved, tmp_path, [(40, 30), (32, 32), (24, 48)])
    assert {(r["grid_rows"], r["grid_cols"]) for r in records} == {(4, 4)}
    assert all(len(r["layer_maps"][0]) > N for r in records)  # crops and global captured


def test_shared_prefill_equals_plain_generate(tiny):
    prep = prepare(tiny, noise_image((30, 48), seed=1), "is there a circle?")
    assert_shared_prefill_exact(tiny, prep, STEPS)


def test_stock_processor_is_used_when_autoprocessor_has_one(tiny, saved, family, monkeypatch):
    from .helpers import assert_full_processor_preferred

    adapter = adapter_for(family)
    fallback = family == "smolvlm"  # Idefics3's processor needs no torchvision
    assert_full_processor_preferred(adapter, saved, tiny.processor, monkeypatch, fallback)
