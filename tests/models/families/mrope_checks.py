"""Checks shared by the M-RoPE families (Qwen2/2.5/3-VL, GLM-4V): grid order and box
projection against the processor's pixels, M-RoPE positions across prefill and decode."""

from __future__ import annotations

import numpy as np
import torch
from transformers.vision_utils import get_vision_position_ids

from vrprobe.capture.engine import CaptureRequest
from vrprobe.capture.prefill import prefill, repeat_cache
from vrprobe.capture.sampling import generate_from_cache, greedy_from_cache, sample_continuations
from vrprobe.models.prepare import prepare

from .helpers import (
    assert_capture_matches_eager,
    assert_cells_follow_pixels,
    assert_each_token_one_cell,
    box_image,
    eager_reference,
    noise_image,
)

STEPS = 5


def token_brightness(pixel_values: np.ndarray, image_processor, merge: int) -> np.ndarray:
    """Mean brightness in [0, 1] of each LLM token's m x m patches (rows are (C, T, P, P))."""
    mean = np.array(image_processor.image_mean)[:, None]
    std = np.array(image_processor.image_std)[:, None]
    rows = pixel_values.reshape(len(pixel_values), 3, -1) * std + mean
    return rows.mean(axis=(1, 2)).reshape(-1, merge * merge).mean(axis=1)


def check_region(loaded, size, box, expected_hw=None):
    """Box -> cells equals the model-input pixels, with each token's cell taken from the vision
    encoder's own patch positions (``get_vision_position_ids``), not from the layout."""
    ip = loaded.processor.image_processor
    merge = int(loaded.model.config.vision_config.spatial_merge_size)
    patch = int(loaded.model.config.vision_config.patch_size)
    prep = prepare(loaded, box_image(size, box), "where?")
    lay = prep.layout
    grid = prep.inputs["image_grid_thw"]
    _, gh, gw = grid[0].tolist()
    if expected_hw is not None:
        assert (gh * patch, gw * patch) == expected_hw  # the family's smart_resize
    pos = get_vision_position_ids(grid, merge).numpy()  # (h, w) per patch, in pixel_values order
    tok_rc = pos[:: merge * merge] // merge  # every token's m x m block starts a group
    assert (pos.reshape(-1, merge * merge, 2) // merge == tok_rc[:, None]).all()
    assert (lay.cells[:, 1:] == tok_rc).all()  # layout order = the vision encoder's order
    assert_each_token_one_cell(lay)
    assert lay.grids == ((gh // merge, gw // merge),)
    means = np.zeros(lay.grids[0])
    bright = token_brightness(prep.inputs["pixel_values"].numpy(), ip, merge)
    means[tok_rc[:, 0], tok_rc[:, 1]] = bright
    assert_cells_follow_pixels(lay, box, {0: means})
    assert len(lay.box_to_cells(box, "all")) > 0
    return prep


def check_capture(loaded, size=(56, 40)):
    prep = prepare(loaded, noise_image(size), "which shape is red?")
    ids = prep.inputs["input_ids"][0].numpy()
    tok = loaded.processor.tokenizer
    assert tok.decode(ids[prep.sections["question"]]) == "which shape is red?"
    assert (np.diff(prep.layout.positions) == 1).all()
    ref = eager_reference(loaded.model, prep.inputs, STEPS)
    req = CaptureRequest(prep.layout.positions, prep.sections)
    assert_capture_matches_eager(loaded.model, prep.inputs, req, ref, STEPS)
    with torch.no_grad():  # the captured greedy run also equals plain generate (sdpa-free here)
        plain = loaded.model.generate(**prep.inputs, do_sample=False, max_new_tokens=STEPS)
    assert ref.sequences.tolist() == plain.tolist()


def check_shared_prefill(loaded, size=(30, 48), k=4):
    """Greedy from the shared prefill equals plain generate; its first logits equal a full
    forward; K samples equal K independent generates (same seed); the stored M-RoPE deltas
    are what makes this work (zeroing them moves the logits)."""
    model = loaded.model
    prep = prepare(loaded, noise_image(size, seed=1), "is there a circle?")
    inputs, p = prep.inputs, prep.prompt_len
    with torch.no_grad():
        plain = model.generate(**inputs, do_sample=False, max_new_tokens=STEPS)
        full = model(**inputs).logits[0, -1]
    cache = prefill(model, inputs)
    assert cache.get_seq_length() == p - 1
    deltas = cache.rope_deltas
    assert deltas.shape == (1, 1) and int(deltas) < 0  # the image grid compresses positions
    greedy = greedy_from_cache(model, inputs, cache, max_new_tokens=STEPS)
    assert len(greedy) > 0 and greedy.tolist() == plain[0, p:].tolist()[: len(greedy)]
    first = generate_from_cache(
        model, inputs, cache, 2, max_new_tokens=1, output_logits=True, return_dict_in_generate=True
    ).logits[0]
    torch.testing.assert_close(first, full.expand_as(first), atol=1e-5, rtol=0)
    assert repeat_cache(cache, 3).rope_deltas.shape == (3, 1)
    wrong = repeat_cache(cache, 1)
    wrong.rope_deltas = torch.zeros_like(deltas)
    bad = generate_from_cache(
        model, inputs, wrong, 1, max_new_tokens=1, output_logits=True, return_dict_in_generate=True
    ).logits[0][0]
    assert (bad - full).abs().max() > 1e-4
    samples = sample_continuations(model, inputs, cache, k=k, seed=3, max_new_tokens=STEPS)
    rep = {
        key: v.repeat_interleave(k, dim=0)
        for key, v in inputs.items()
        if key in ("input_ids", "attention_mask", "mm_token_type_ids")
    }
    rep["pixel_values"] = inputs["pixel_values"].repeat(k, 1)
    rep["image_grid_thw"] = inputs["image_grid_thw"].repeat(k, 1)
    torch.manual_seed(3)
    with torch.no_grad():
        ref = model.generate(
            **rep, max_new_tokens=STEPS, do_sample=True, temperature=0.7, top_p=0.9, top_k=0
        )
    eos = model.generation_config.eos_token_id
    want = [row[: row.index(eos)] if eos in row else row for row in ref[:, p:].tolist()]
    assert [s.tolist() for s in samples] == want
