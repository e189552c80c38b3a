"""LLaVA-NeXT: base + any-res layout (unpad, newline slots), capture vs eager, end to end."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers.models.llava_next.modeling_llava_next import unpad_image

from vrprobe.capture.engine import CaptureRequest
from vrprobe.models.families import adapter_for
from vrprobe.models.layout_anyres import anyres_map
from vrprobe.models.loading import LoadedModel, load_model
from vrprobe.models.prepare import prepare
from vrprobe.models.tiny_llava_next import tiny_llava_next

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
G, SIDE = 4, 32  # 32 px tiles, patch 8: 4 x 4 tokens per tile


@pytest.fixture(scope="module")
def tiny():
    model, processor = tiny_llava_next()
    return LoadedModel(model, processor, "tiny-llava-next", "eager")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny-llava-next")
    model, processor = tiny_llava_next()
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


# (image size, white box in original pixels, tiles cut (rows, cols), map rows kept after unpad)
CASES = [
    ((64, 64), (16, 16, 48, 32), (2, 2), 8),  # square: 2 x 2 tiles, scale 1, nothing unpadded
    ((128, 64), (32, 16, 96, 32), (1, 2), 4),  # wide 2:1, fits 1 x 2 exactly
    ((160, 40), (40, 0, 80, 20), (1, 2), 2),  # wide 4:1: padded rows removed by unpad
    ((40, 160), (0, 40, 20, 80), (2, 1), 8),  # tall 1:4: padded columns removed
]
IDS = ["square", "wide", "wide-unpad", "tall-unpad"]


@pytest.mark.parametrize(("size", "box", "tiles", "kept"), CASES, ids=IDS)
def test_pack_order_matches_layout(tiny, size, box, tiles, kept):
    """The model's own pack_image_features, fed features that name their origin, puts every
    token where the layout says: base (r, c), map row/col (up to the unpad shift), newlines."""
    lay = prepare(tiny, box_image(size, box), "where?").layout
    rows_t, cols_t = tiles
    feats = torch.zeros(1 + rows_t * cols_t, G * G, 3)
    r, c = np.divmod(np.arange(G * G), G)
    feats[0] = torch.tensor(np.stack([np.zeros_like(r), r, c], 1), dtype=torch.float32)
    for p in range(rows_t * cols_t):
        big_r, big_c = (p // cols_t) * G + r, (p % cols_t) * G + c
        feats[1 + p] = torch.tensor(np.stack([np.ones_like(r), big_r, big_c], 1))
    w, h = size
    packed, lens = tiny.model.model.pack_image_features(
        [feats], torch.tensor([[h, w]]), "default", image_newline=torch.full((3,), -1.0)
    )
    out = packed[0].numpy().astype(int)
    assert len(out) == int(lens[0]) == len(lay.positions)
    tile, row, _ = lay.cells.T
    base = tile == 0
    assert (out[base] == lay.cells[base]).all()
    newline = (tile == 1) & (row < 0)
    assert (out[newline] == -1).all() and newline.sum() == lay.grids[1][0] == kept
    grid = (tile == 1) & (row >= 0)
    shift = out[grid, 1:] - lay.cells[grid, 1:]
    assert (out[grid, 0] == 1).all() and len({tuple(s) for s in shift}) == 1  # unpad offset
    # every newline closes a map row
    assert (np.flatnonzero(newline) == np.flatnonzero(grid)[lay.grids[1][1] - 1 :: lay.grids[1][1]]
            + 1).all()  # fmt: skip


@pytest.mark.parametrize(("size", "box", "tiles", "kept"), CASES, ids=IDS)
def test_region_maps_to_its_cells(tiny, size, box, tiles, kept):
    """Box -> cells equals what the processor's model-input pixels say, on the base image and
    on the any-res map (tiles reassembled, feature cells unpadded by the model's unpad_image)."""
    ip = tiny.processor.image_processor
    prep = prepare(tiny, box_image(size, box), "where?")
    lay = prep.layout
    rows_t, cols_t = tiles
    assert lay.grids == ((G, G), (kept, lay.grids[1][1]))
    assert_each_token_one_cell(lay)
    pv = prep.inputs["pixel_values"][0].numpy()
    assert pv.shape[0] == 1 + rows_t * cols_t
    bright = [unnormalise(p, ip) for p in pv]
    canvas = np.block([[bright[1 + i * cols_t + j] for j in range(cols_t)] for i in range(rows_t)])
    fmap = cell_means(canvas, rows_t * G, cols_t * G)
    unpadded = unpad_image(torch.from_numpy(fmap)[None], (size[1], size[0]))[0].numpy()
    assert unpadded.shape == lay.grids[1]
    means = {0: cell_means(bright[0], G, G), 1: unpadded}
    assert_cells_follow_pixels(lay, box, means)
    for rule in ("any", "all"):
        assert set(lay.cells[lay.box_to_cells(box, rule), 0].tolist()) == {0, 1}


def test_map_geometry_independent_check():
    """Projection of a wide 4:1 image: resized 64x16 onto a 32x64 canvas with 8 pad rows each
    side; unpad removes one feature row each side, so the map is the resized image itself."""
    tile, tiles = anyres_map([[32, 64], [64, 32], [64, 64]], (160, 40), G, SIDE)
    assert tiles == (1, 2) and (tile.rows, tile.cols) == (2, 8)
    cov = tile.coverage((0, 0, 160, 40))
    assert np.allclose(cov, 1.0)  # the whole image is the whole kept map


def test_capture_matches_eager(tiny):
    prep = prepare(tiny, noise_image((56, 40)), "which shape is red?")
    lay = prep.layout
    assert len(lay.tiles) == 2 and (lay.cells[:, 1] < 0).sum() == lay.grids[1][0]
    tok = tiny.processor.tokenizer
    ids = prep.inputs["input_ids"][0].numpy()
    assert tok.decode(ids[prep.sections["question"]]) == "which shape is red?"
    ref = eager_reference(tiny.model, prep.inputs, STEPS)
    req = CaptureRequest(lay.positions, prep.sections)
    assert_capture_matches_eager(tiny.model, prep.inputs, req, ref, STEPS)


def test_shared_prefill_equals_plain_generate(tiny):
    prep = prepare(tiny, noise_image((30, 48), seed=1), "is there a circle?")
    assert_shared_prefill_exact(tiny, prep, STEPS)


def test_token_count_mismatch_is_clear(tiny):
    prep = prepare(tiny, noise_image((64, 64)), "what?")
    ids = prep.inputs["input_ids"][0].numpy()
    adapter = adapter_for(tiny.model.config)
    with pytest.raises(ValueError, match="LLaVA-NeXT: found"):
        adapter.layout(ids, tiny.processor, tiny.model.config, (160, 40), prep.inputs)


def test_loads_from_saved_folder(saved):
    loaded = load_model(str(saved))
    assert loaded.adapter.name == "llava_next"
    assert type(loaded.processor.image_processor).__name__.startswith("LlavaNextImageProcessor")


def test_end_to_end_run(saved, tmp_path):
    records = run_end_to_end(saved, tmp_path, [(40, 30), (32, 32), (24, 48)])
    assert {(r["grid_rows"], r["grid_cols"]) for r in records} == {(G, G)}  # the base image
    assert all(len(r["layer_maps"][0]) > G * G for r in records)  # base + map captured
