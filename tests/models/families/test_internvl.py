"""InternVL: tiles + thumbnail layout, pixel-shuffle order, capture vs eager, end to end."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vrprobe.capture.engine import CaptureRequest
from vrprobe.models.families import adapter_for
from vrprobe.models.families.internvl import InternVLImageProcessor, tile_grid
from vrprobe.models.loading import LoadedModel, load_model
from vrprobe.models.prepare import prepare
from vrprobe.models.tiny_internvl import tiny_internvl

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


@pytest.fixture(scope="module")
def tiny():
    model, processor = tiny_internvl()  # 32 px tiles, 4 x 4 tokens each, up to 4 tiles
    return LoadedModel(model, processor, "tiny-internvl", "eager")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny-internvl")
    model, processor = tiny_internvl()
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


def test_pixel_shuffle_is_row_major_2x2(tiny):
    """Token (i, j) of a tile merges vision patches rows 2i..2i+1, columns 2j..2j+1."""
    g = 8
    rr, cc = np.divmod(np.arange(g * g), g)
    feats = torch.tensor(np.stack([rr, cc], 1), dtype=torch.float32).reshape(1, g, g, 2)
    out = tiny.model.model.pixel_shuffle(feats, 0.5).reshape(1, -1, 8)[0].numpy()
    for k, (i, j) in enumerate(np.ndindex(g // 2, g // 2)):
        rows, cols = out[k, 0::2], out[k, 1::2]
        assert set(rows) == {2 * i, 2 * i + 1} and set(cols) == {2 * j, 2 * j + 1}, k


CASES = [
    ((40, 40), (10, 10, 30, 20), (1, 1)),  # one tile, no thumbnail
    ((64, 64), (16, 16, 48, 32), (2, 2)),  # square: 4 crops + thumbnail
    ((128, 64), (32, 16, 64, 48), (1, 2)),  # wide: 2 columns
    ((64, 128), (16, 32, 48, 64), (2, 1)),  # tall: 2 rows
]


@pytest.mark.parametrize(("size", "box", "grid"), CASES, ids=["single", "square", "wide", "tall"])
def test_region_maps_to_its_cells(tiny, size, box, grid):
    ip = tiny.processor.image_processor
    assert tile_grid(ip, size) == grid
    prep = prepare(tiny, box_image(size, box), "where?")
    lay = prep.layout
    n_blocks = grid[0] * grid[1] + (grid != (1, 1))
    assert len(lay.tiles) == n_blocks and len(lay.positions) == 16 * n_blocks
    assert lay.tiles[0].scale_xy == (32 / size[0], 32 / size[1])  # tile 0: the whole image
    assert_each_token_one_cell(lay)
    pv = prep.inputs["pixel_values"].numpy()
    assert pv.shape[0] == n_blocks
    block_tile = lay.cells[::16, 0]  # the tile of each 16-token sequence block
    means = {int(t): cell_means(unnormalise(pv[k], ip), 4, 4) for k, t in enumerate(block_tile)}
    assert_cells_follow_pixels(lay, box, means)
    for rule in ("all", "any"):
        hit = lay.box_to_cells(box, rule)
        seen = set(lay.cells[hit, 0].tolist())
        assert 0 in seen and (n_blocks == 1 or len(seen) >= 2)  # the thumbnail and a crop


def test_capture_matches_eager_on_tiles(tiny):
    prep = prepare(tiny, noise_image((56, 40)), "which shape is red?")
    assert len(prep.layout.tiles) == 5
    ids = prep.inputs["input_ids"][0].numpy()
    tok = tiny.processor.tokenizer
    pos = prep.layout.positions
    assert (np.diff(pos) == 1).all() and ids[pos[0] - 1] == tok.convert_tokens_to_ids("<img>")
    assert tok.decode(ids[prep.sections["question"]]) == "which shape is red?"
    ref = eager_reference(tiny.model, prep.inputs, STEPS)
    assert_capture_matches_eager(tiny.model, prep.inputs, CaptureRequest(pos, prep.sections), ref,
                                 STEPS)  # fmt: skip


def test_processor_without_torchvision(saved):
    loaded = load_model(str(saved))
    assert loaded.adapter is adapter_for("internvl")
    assert isinstance(loaded.processor, InternVLImageProcessor)
    assert loaded.processor.image_processor.crop_to_patches and loaded.processor.chat_template


def test_end_to_end_run(saved, tmp_path):
    records = run_end_to_end(saved, tmp_path, [(40, 30), (32, 32), (24, 48)])
    assert {(r["grid_rows"], r["grid_cols"]) for r in records} == {(4, 4)}
    assert {len(r["layer_maps"][0]) for r in records} > {16}  # thumbnail + crops captured


def test_shared_prefill_equals_plain_generate(tiny):
    prep = prepare(tiny, noise_image((30, 48), seed=1), "is there a circle?")
    assert_shared_prefill_exact(tiny, prep, STEPS)


def test_stock_processor_is_used_when_autoprocessor_has_one(tiny, saved, monkeypatch):
    from .helpers import assert_full_processor_preferred

    assert_full_processor_preferred(adapter_for("internvl"), saved, tiny.processor, monkeypatch)
