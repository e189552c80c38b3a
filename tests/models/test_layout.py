"""ImageLayout for LLaVA: token positions, cells, and box projection checked on pixel_values."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vrprobe.models.layout import ImageLayout, Tile, llava_layout, processor_tile
from vrprobe.models.tiny import tiny_llava


@pytest.fixture(scope="module")
def tiny():
    model, processor = tiny_llava(image_size=48, patch_size=8, layers=1)  # 6 x 6 grid
    return model, processor


def _encode(processor, image):
    messages = [{"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "image"}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True)
    return processor(images=image, text=text, return_tensors="pt")


def _cell_means(processor, inputs, grid):
    """Mean brightness in [0, 1] of each cell of the processor's actual model-input image."""
    ip = processor.image_processor
    pv = inputs["pixel_values"][0].numpy()
    mean, std = np.array(ip.image_mean)[:, None, None], np.array(ip.image_std)[:, None, None]
    x = (pv * std + mean).mean(0)
    h, w = x.shape
    return x.reshape(grid, h // grid, grid, w // grid).mean(axis=(1, 3))


def test_positions_and_cells(tiny):
    model, processor = tiny
    inputs = _encode(processor, Image.new("RGB", (70, 50)))
    lay = llava_layout(inputs["input_ids"], processor, model.config, (70, 50))
    ids = inputs["input_ids"][0].numpy()
    assert np.array_equal(lay.positions, np.flatnonzero(ids == model.config.image_token_id))
    assert lay.positions[0] > 0  # text comes first here: no hard-coded offset could work
    assert lay.grids == ((6, 6),)
    assert lay.cells.shape == (36, 3)
    assert len({tuple(c) for c in lay.cells}) == 36  # every token exactly one cell, all distinct
    assert (lay.cells[:, 1:] >= 0).all() and (lay.cells[:, 1:] < 6).all()


# (image size, white box in original pixels), boxes aligned to the 6x6 grid after projection
ALIGNED = [
    ((96, 96), (32, 16, 64, 48)),  # square, scale 1/2
    ((96, 144), (16, 56, 48, 104)),  # tall: resized to 48x72, crop removes 12 rows (24 orig px)
    ((150, 75), (50, 25, 75, 50)),  # wide: scale 0.64 to 96x48, crop removes 24 columns
]


@pytest.mark.parametrize(("size", "box"), ALIGNED)
def test_region_maps_to_its_cells(tiny, size, box):
    model, processor = tiny
    w, h = size
    pixels = np.zeros((h, w, 3), np.uint8)
    x0, y0, x1, y1 = box
    pixels[y0:y1, x0:x1] = 255
    inputs = _encode(processor, Image.fromarray(pixels))
    lay = llava_layout(inputs["input_ids"], processor, model.config, size)
    means = _cell_means(processor, inputs, 6)
    flat = means.reshape(-1)
    cells = {rule: lay.box_to_cells(box, rule) for rule in ("any", "half", "all")}
    assert np.array_equal(cells["any"], np.flatnonzero(flat > 0.05))
    assert np.array_equal(cells["half"], np.flatnonzero(flat > 0.45))
    assert np.array_equal(cells["all"], np.flatnonzero(flat > 0.95))
    assert set(cells["all"]) <= set(cells["half"]) <= set(cells["any"])
    assert len(cells["all"]) > 0


def test_partial_cells_follow_rules(tiny):
    """A box covering 1/4 of one cell column and 3/4 of another separates the three rules."""
    model, processor = tiny
    size = (96, 96)  # model input = original / 2; cells are 16 original px
    box = (12, 16, 52, 48)  # columns: cell 0 covers 1/4, cells 1-2 full, cell 3 covers 1/4
    pixels = np.zeros((96, 96, 3), np.uint8)
    pixels[16:48, 12:52] = 255
    inputs = _encode(processor, Image.fromarray(pixels))
    lay = llava_layout(inputs["input_ids"], processor, model.config, size)
    flat = _cell_means(processor, inputs, 6).reshape(-1)
    anyc, half, allc = (lay.box_to_cells(box, r) for r in ("any", "half", "all"))
    assert np.array_equal(anyc, np.flatnonzero(flat > 0.1))
    assert np.array_equal(half, np.flatnonzero(flat > 0.5)) and np.array_equal(half, allc)
    assert set(anyc) - set(half) == {6, 9, 12, 15}
    box2 = (4, 16, 52, 48)  # cell 0 now 3/4 covered: half includes it, all does not
    assert set(lay.box_to_cells(box2, "half")) - set(lay.box_to_cells(box2, "all")) == {6, 12}


def test_box_errors_and_cropped_region(tiny):
    model, processor = tiny
    inputs = _encode(processor, Image.new("RGB", (96, 144)))
    lay = llava_layout(inputs["input_ids"], processor, model.config, (96, 144))
    with pytest.raises(ValueError, match="inverted"):
        lay.box_to_cells((40, 40, 10, 50))
    with pytest.raises(ValueError, match="outside"):
        lay.box_to_cells((0, 0, 97, 10))
    with pytest.raises(ValueError, match="outside"):
        lay.box_to_cells((-1, 0, 10, 10))
    assert lay.box_to_cells((0, 0, 96, 20)).size == 0  # cropped away by the center crop
    assert len(lay.box_to_cells((0, 0, 96, 144), "all")) == 36


def test_token_count_mismatch(tiny):
    model, processor = tiny
    inputs = _encode(processor, Image.new("RGB", (48, 48)))
    ids = inputs["input_ids"][0].numpy()
    with pytest.raises(ValueError, match="image tokens"):
        llava_layout(ids[:-40], processor, model.config, (48, 48))


def test_pad_to_square_processor():
    """LLaVA's `do_pad` pads to a square first: a tall image gets side bands."""

    class PadIp:
        do_pad, do_resize, do_center_crop = True, True, True
        size, crop_size = {"shortest_edge": 48}, {"height": 48, "width": 48}

        def pad_to_square(self):  # marks LLaVA's pad-to-square semantics
            pass

    tile = processor_tile(PadIp(), (50, 100), 6, 6)
    assert tile.scale_xy == (0.48, 0.48) and tile.offset_xy == (12.0, 0.0)
    lay = ImageLayout(
        np.arange(36), np.array([[0, r, c] for r in range(6) for c in range(6)]), (tile,), (50, 100)
    )
    assert set(lay.box_to_cells((0, 0, 50, 100), "any")) == {
        r * 6 + c for r in range(6) for c in range(1, 5)
    }
    assert Tile(2, 2, (4, 4)).coverage((0, 0, 3, 2)).tolist() == [[1.0, 0.5], [0.0, 0.0]]
