"""PaliGemma: bidirectional prefix capture, square SigLIP layout, shared prefill, end to end."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vrprobe.capture.engine import CaptureRequest
from vrprobe.capture.prefill import CACHE_KWARG, prefill
from vrprobe.capture.sampling import greedy_from_cache
from vrprobe.models.families import adapter_for
from vrprobe.models.loading import LoadedModel, load_model
from vrprobe.models.prepare import prepare
from vrprobe.models.tiny_paligemma import tiny_paligemma

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
    model, processor = tiny_paligemma(image_size=48, patch_size=8)  # 6 x 6 grid
    return LoadedModel(model, processor, "tiny-paligemma", "eager")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny-paligemma")
    model, processor = tiny_paligemma()
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


def test_adapter_and_prompt(tiny):
    assert adapter_for(tiny.model.config).name == "paligemma"
    prep = prepare(tiny, noise_image((40, 30)), "what colour?")
    ids = prep.inputs["input_ids"][0].numpy()
    assert prep.layout.positions.tolist() == list(range(36))  # image first
    assert ids[36] == tiny.processor.tokenizer.bos_token_id  # then BOS
    assert "labels" not in prep.inputs and "token_type_ids" in prep.inputs
    question = tiny.processor.tokenizer.decode(ids[prep.sections["question"]])
    assert question == "what colour?"


def test_prefix_is_bidirectional_and_capture_matches_eager(tiny):
    prep = prepare(tiny, noise_image((56, 40)), "which shape is red?")
    ref = eager_reference(tiny.model, prep.inputs, STEPS)
    first = ref.attentions[0][0][0, 0]  # prefill, layer 0, head 0: (P, P)
    assert bool((first[0] > 0).all())  # image token 0 sees the whole prompt
    req = CaptureRequest(prep.layout.positions, prep.sections)
    assert_capture_matches_eager(tiny.model, prep.inputs, req, ref, STEPS)


def test_shared_prefill_equals_plain_generate(tiny):
    prep = prepare(tiny, noise_image((30, 48), seed=1), "is there a circle?")
    with torch.no_grad():
        plain = tiny.model.generate(**prep.inputs, do_sample=False, max_new_tokens=STEPS)
        opts = {"bidirectional_prompt": True, "position_offset": 1}
        cache = prefill(tiny.model, prep.inputs, **opts)
        shared = greedy_from_cache(tiny.model, prep.inputs, cache, max_new_tokens=STEPS)
        naive = prefill(tiny.model, prep.inputs)  # prompt minus its last token: not exact
        logits = [
            tiny.model(input_ids=prep.inputs["input_ids"][:, -1:], **{CACHE_KWARG: c},
                       position_ids=torch.tensor([[prep.prompt_len]])).logits[0, -1]
            for c in (cache, naive)
        ]  # fmt: skip
        full = tiny.model(**prep.inputs).logits[0, -1]
    p = prep.prompt_len
    assert shared.tolist() == plain[0, p:].tolist()[: len(shared)]
    torch.testing.assert_close(logits[0], full, atol=1e-5, rtol=0)
    assert (logits[1] - full).abs().max() > 1e-4  # the crop matters for a bidirectional prefix


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


def test_end_to_end_run(saved, tmp_path):
    records = run_end_to_end(saved, tmp_path, [(40, 30), (32, 32), (24, 48)])
    assert {r["grid_rows"] for r in records} == {4}
    loaded = load_model(str(saved))
    assert loaded.adapter.name == "paligemma" and hasattr(loaded.processor, "image_processor")
    assert np.asarray(records[0]["mean_map"]).shape == (16,)


@pytest.fixture(scope="module")
def tiny2():
    model, processor = tiny_paligemma(gemma2=True, sliding_window=8)
    return LoadedModel(model, processor, "tiny-paligemma2", "eager")


def test_paligemma2_window_softcap_capture_and_prefill(tiny2):
    """PaliGemma 2: Gemma 2 decoder with a sliding layer (window < prompt) and soft-capping."""
    text = tiny2.model.config.text_config
    assert text.attn_logit_softcapping and text.layer_types[0] == "sliding_attention"
    prep = prepare(tiny2, noise_image((56, 40)), "which shape is red?")
    assert prep.prompt_len > text.sliding_window
    ref = eager_reference(tiny2.model, prep.inputs, STEPS)
    req = CaptureRequest(prep.layout.positions, prep.sections)
    res, windowed = assert_capture_matches_eager(tiny2.model, prep.inputs, req, ref, STEPS)
    assert windowed == len(res.new_tokens) - 1
    # the prefill lets the prefix block override the window; a continuation cannot: refused
    with pytest.raises(ValueError, match="sliding window"):
        prefill(tiny2.model, prep.inputs, bidirectional_prompt=True, position_offset=1)
    model, processor = tiny_paligemma(gemma2=True, sliding_window=64)  # window > prompt: exact
    wide = LoadedModel(model, processor, "tiny-paligemma2-64", "eager")
    assert_shared_prefill_exact(wide, prepare(wide, noise_image((56, 40)), "red?"), STEPS)
