"""Gemma 3: sliding-window + soft-capped capture, bidirectional image block, pooled layout."""

from __future__ import annotations

import numpy as np
import pytest

from vrprobe.capture.engine import CaptureRequest
from vrprobe.models.families import adapter_for
from vrprobe.models.loading import LoadedModel, load_model
from vrprobe.models.prepare import prepare
from vrprobe.models.tiny_gemma3 import tiny_gemma3

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
    model, processor = tiny_gemma3(image_size=48, patch_size=4, mm_tokens_per_image=36)  # 6x6
    return LoadedModel(model, processor, "tiny-gemma3", "eager")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny-gemma3")
    model, processor = tiny_gemma3()
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


def test_adapter_tokens_and_sections(tiny):
    cfg = tiny.model.config
    assert adapter_for(cfg).name == "gemma3"
    assert tiny.processor.image_token_id == cfg.boi_token_id != cfg.image_token_id
    prep = prepare(tiny, noise_image((40, 30)), "what colour?")
    ids = prep.inputs["input_ids"][0].numpy()
    pos = prep.layout.positions
    assert len(pos) == 36 and (np.diff(pos) == 1).all()
    assert ids[pos[0] - 1] == cfg.boi_token_id and ids[pos[-1] + 1] == cfg.eoi_token_id
    question = tiny.processor.tokenizer.decode(ids[prep.sections["question"]])
    assert question == "what colour?"


def test_capture_matches_eager_with_window_and_softcap(tiny):
    text = tiny.model.config.text_config
    assert text.attn_logit_softcapping and text.layer_types[0] == "sliding_attention"
    prep = prepare(tiny, noise_image((56, 40)), "which shape is red?")
    assert prep.prompt_len > text.sliding_window  # the window matters
    ref = eager_reference(tiny.model, prep.inputs, STEPS)
    pre = ref.attentions[0][1][0, 0]  # prefill, full layer, head 0
    pos = prep.layout.positions
    assert bool((pre[pos[0], pos] > 0).all())  # the first image token sees every image token
    req = CaptureRequest(pos, prep.sections)
    res, windowed = assert_capture_matches_eager(tiny.model, prep.inputs, req, ref, STEPS)
    assert windowed == len(res.new_tokens) - 1  # every decode step of the sliding layer
    assert res.image_attention[1:, 0].sum() == 0  # image keys lie outside the window


def test_shared_prefill_equals_plain_generate(tiny):
    prep = prepare(tiny, noise_image((30, 48), seed=1), "is there a circle?")
    assert_shared_prefill_exact(tiny, prep, STEPS)


@pytest.mark.parametrize(
    ("size", "box"),
    [((96, 96), (32, 16, 64, 48)), ((150, 75), (50, 25, 75, 50)), ((60, 120), (20, 40, 40, 60))],
    ids=["square", "wide", "tall"],
)
def test_region_maps_to_its_cells(tiny, size, box):
    prep = prepare(tiny, box_image(size, box), "where?")
    lay = prep.layout
    assert lay.grids == ((6, 6),)
    assert_each_token_one_cell(lay)
    canvas = unnormalise(prep.inputs["pixel_values"][0].numpy(), tiny.processor.image_processor)
    assert_cells_follow_pixels(lay, box, {0: cell_means(canvas, 6, 6)})
    assert len(lay.box_to_cells(box, "all")) > 0


def test_pan_and_scan_is_refused(tiny):
    ip = tiny.processor.image_processor
    ip.do_pan_and_scan = True
    try:
        with pytest.raises(NotImplementedError, match="pan_and_scan"):
            adapter_for("gemma3").layout(np.zeros(3), tiny.processor, tiny.model.config, (8, 8), {})
    finally:
        ip.do_pan_and_scan = None


def test_end_to_end_run(saved, tmp_path):
    records = run_end_to_end(saved, tmp_path, [(40, 30), (32, 32), (24, 48)])
    assert {(r["grid_rows"], r["grid_cols"]) for r in records} == {(4, 4)}
    for r in records:  # the sliding layer's window has moved past the image at the last prompt
        assert sum(r["layer_maps"][0]) == 0 and sum(r["layer_maps"][1]) > 0  # token
        assert np.isnan(r["layer_entropy"][0]) and np.isfinite(r["layer_entropy"][1])
        assert np.isfinite(r["spatial_entropy"]) and abs(sum(r["mean_map"]) - 1) < 1e-6
    assert load_model(str(saved)).adapter.name == "gemma3"
