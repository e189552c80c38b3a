"""Capture on the bundled demo model equals eager attentions, with identical tokens."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vrprobe.capture.engine import CaptureRequest, generate_with_capture
from vrprobe.models.loading import load_model
from vrprobe.models.prepare import prepare
from vrprobe.tasks.shapes import SPLIT_SEEDS, make_sample

STEPS = 4


@pytest.fixture(scope="module")
def demo():
    return load_model("demo", attn_implementation="eager")


@pytest.mark.parametrize("index", [0, 1, 2])
def test_capture_matches_eager_on_the_demo(demo, index):
    sample = make_sample(SPLIT_SEEDS["test"], index)
    prep = prepare(demo, sample.load_image(), sample.question)
    gen = {"max_new_tokens": STEPS, "min_new_tokens": STEPS, "do_sample": False}
    with torch.no_grad():
        ref = demo.model.generate(
            **prep.inputs, output_attentions=True, return_dict_in_generate=True, **gen
        )
    assert ref.attentions and ref.attentions[0], "eager returned no attentions"
    request = CaptureRequest(image_positions=prep.layout.positions, sections=prep.sections)
    with torch.no_grad():
        got = generate_with_capture(demo.model, prep.inputs, request, **gen)
    prompt_len = prep.prompt_len
    assert got.new_tokens.tolist() == ref.sequences[0, prompt_len:].tolist()
    img = prep.layout.positions
    for t, step in enumerate(ref.attentions):
        for layer, att in enumerate(step):
            row = att[0, :, -1, :].double().mean(0).numpy()  # heads averaged, last query row
            np.testing.assert_allclose(got.image_attention[t, layer], row[img], atol=1e-5)
            image_share = row[img].sum()
            assert abs(got.section_shares["image"][t, layer] - image_share) <= 1e-5
            generated = row[prompt_len:].sum()
            assert abs(got.section_shares["generated"][t, layer] - generated) <= 1e-5
