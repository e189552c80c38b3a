"""The bundled demo VLM: loads offline, processor round-trips, accuracy in the intended band."""

from __future__ import annotations

import os
from collections import defaultdict

import pytest
import torch
from transformers import (
    AutoModelForImageTextToText,
    AutoProcessor,
    CLIPImageProcessorPil,
    LlavaForConditionalGeneration,
    LlavaProcessor,
)

from vrprobe.models.demo import (
    DEMO_DIR,
    NUM_IMAGE_TOKENS,
    answer_questions,
    build_demo_config,
    build_demo_processor,
    build_demo_tokenizer,
    demo_prompt,
)
from vrprobe.tasks.shapes import SPLIT_SEEDS, make_sample

N_EVAL = 100


@pytest.fixture(scope="module")
def demo():
    torch.set_num_threads(1)
    old = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        model = AutoModelForImageTextToText.from_pretrained(DEMO_DIR).eval()
        processor = AutoProcessor.from_pretrained(DEMO_DIR)
    finally:
        if old is None:
            os.environ.pop("HF_HUB_OFFLINE")
        else:
            os.environ["HF_HUB_OFFLINE"] = old
    return model, processor


@pytest.fixture(scope="module")
def test_samples():
    return [make_sample(SPLIT_SEEDS["test"], i) for i in range(N_EVAL)]


def test_assets_are_small_and_complete():
    names = {p.name for p in DEMO_DIR.iterdir()}
    assert {"config.json", "model.safetensors", "processor_config.json", "tokenizer.json"} <= names
    assert {"chat_template.jinja", "generation_config.json"} <= names
    assert (DEMO_DIR / "model.safetensors").stat().st_size < 5_000_000  # fp16


def test_loads_offline_as_llava(demo):
    model, processor = demo
    assert isinstance(model, LlavaForConditionalGeneration)
    assert model.dtype == torch.float32
    assert isinstance(processor, LlavaProcessor)
    assert isinstance(processor.image_processor, CLIPImageProcessorPil)
    assert processor.chat_template
    assert 1.5e6 < sum(p.numel() for p in model.parameters()) < 2.5e6
    text = model.config.text_config
    tok = processor.tokenizer
    assert (text.bos_token_id, text.eos_token_id, text.pad_token_id) == (
        tok.bos_token_id,
        tok.eos_token_id,
        tok.pad_token_id,
    )
    assert model.config.image_token_id == tok.convert_tokens_to_ids("<image>")


def test_saved_config_matches_code(demo):
    model, _ = demo
    built = build_demo_config(build_demo_tokenizer())
    for key in ("image_token_id", "vision_feature_layer", "vision_feature_select_strategy"):
        assert getattr(model.config, key) == getattr(built, key)
    # `dtype` is set on the sub-configs by from_pretrained at load time, not by the code
    for part in ("text_config", "vision_config"):
        saved = getattr(model.config, part).to_diff_dict()
        saved.pop("dtype", None)
        assert saved == getattr(built, part).to_diff_dict(), part


def test_processor_round_trips(demo, test_samples):
    _, loaded = demo
    built = build_demo_processor()
    batch = test_samples[:6]
    for s in batch:
        assert demo_prompt(loaded, s.question) == demo_prompt(built, s.question)
    outs = [
        p(
            images=[s.image for s in batch],
            text=[demo_prompt(p, s.question) for s in batch],
            return_tensors="pt",
            padding=True,
        )
        for p in (built, loaded)
    ]
    assert outs[0].keys() == outs[1].keys()
    for key in outs[0]:
        assert torch.equal(outs[0][key], outs[1][key]), key


def test_prompt_has_64_image_tokens(demo, test_samples):
    model, processor = demo
    s = test_samples[0]
    inputs = processor(
        images=[s.image], text=[demo_prompt(processor, s.question)], return_tensors="pt"
    )
    ids = inputs["input_ids"][0]
    image_positions = (ids == model.config.image_token_id).nonzero().flatten()
    assert len(image_positions) == NUM_IMAGE_TOKENS == 64
    assert (image_positions.diff() == 1).all()  # one contiguous run
    assert inputs["pixel_values"].shape == (1, 3, 64, 64)
    assert ids[0] == processor.tokenizer.bos_token_id


def test_greedy_accuracy_in_band(demo, test_samples):
    model, processor = demo
    preds = answer_questions(
        model, processor, [s.image for s in test_samples], [s.question for s in test_samples]
    )
    hits = defaultdict(list)
    for s, p in zip(test_samples, preds, strict=True):
        hits[s.question_type].append(p == s.answers[0])
        hits["overall"].append(p == s.answers[0])
    acc = {k: sum(v) / len(v) for k, v in hits.items()}
    assert 0.6 <= acc["overall"] <= 0.9, acc
    assert acc["prior"] >= 0.9, acc
    assert acc["spatial"] < acc["colour"], acc


def test_batched_and_single_answers_agree(demo, test_samples):
    model, processor = demo
    batch = test_samples[:8]
    images, questions = [s.image for s in batch], [s.question for s in batch]
    together = answer_questions(model, processor, images, questions)
    alone = [
        answer_questions(model, processor, [i], [q])[0]
        for i, q in zip(images, questions, strict=True)
    ]
    assert together == alone
