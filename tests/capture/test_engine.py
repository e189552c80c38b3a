"""Row-only capture vs eager ``output_attentions`` on a tiny random LLaVA (GQA, non-square)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward

from vrprobe.capture import attention, engine, logits, recorder, rows
from vrprobe.capture.attention import ATTN_NAME
from vrprobe.capture.engine import CaptureRequest, EmptyCaptureError, generate_with_capture
from vrprobe.capture.prefill import CACHE_KWARG
from vrprobe.models.tiny import tiny_llava

STEPS = 6
TOL = 1e-5


def _inputs(processor, size_wh, question="Which shape is red?", seed=0):
    rng = np.random.RandomState(seed)
    image = Image.fromarray(rng.randint(0, 255, (size_wh[1], size_wh[0], 3), dtype=np.uint8))
    messages = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}
    ]
    text = processor.apply_chat_template(messages, add_generation_prompt=True)
    return processor(images=image, text=text, return_tensors="pt")


def _request(model, inputs, per_head=False):
    ids = inputs["input_ids"][0].numpy()
    img = np.flatnonzero(ids == model.config.image_token_id)
    question = np.arange(img[-1] + 2, len(ids) - len(" ASSISTANT:"))
    template = np.setdiff1d(np.arange(len(ids)), np.concatenate([img, question]))
    sections = {"image": img, "question": question, "template": template}
    return CaptureRequest(image_positions=img, sections=sections, per_head=per_head)


@pytest.fixture(scope="module", params=[(56, 40), (30, 48)], ids=["wide", "tall"])
def case(request):
    model, processor = tiny_llava(layers=3, heads=4, kv_heads=2)
    tc = model.config.text_config
    assert tc.num_key_value_heads < tc.num_attention_heads and model.config._attn_implementation
    inputs = _inputs(processor, request.param)
    with torch.no_grad():
        ref = model.generate(
            **inputs,
            do_sample=False,
            max_new_tokens=STEPS,
            output_attentions=True,
            output_hidden_states=True,
            output_logits=True,
            return_dict_in_generate=True,
        )
    return model, inputs, ref


def _one_layer_in_step(monkeypatch, layer=1):
    """Layer ``layer`` takes the per-step row path, the others are queued (mixed mode)."""
    queue = recorder.AttentionRecorder.queue

    def patched(self, index, *args):
        return False if index == layer else queue(self, index, *args)

    monkeypatch.setattr(recorder.AttentionRecorder, "queue", patched)


# queued (rows computed at the end; flushed every 4 steps, in chunks of one layer), every row
# in its step, and a mix of both
ROW_PATHS = ["queued", "flushed", "in-step", "mixed"]


def _row_path(path, monkeypatch, model):
    if path == "flushed":
        monkeypatch.setattr(recorder, "FLUSH_STEPS", 4)
        monkeypatch.setattr(rows, "CHUNK_FLOATS", 1)
    if path == "mixed":
        _one_layer_in_step(monkeypatch)
    return {"queue_rows": path != "in-step"}


@pytest.mark.parametrize("path", ROW_PATHS)
def test_matches_eager_attentions(case, path, monkeypatch):
    model, inputs, ref = case
    req = _request(model, inputs)
    opts = _row_path(path, monkeypatch, model)
    res = generate_with_capture(model, inputs, req, max_new_tokens=STEPS, do_sample=False, **opts)
    p = inputs["input_ids"].shape[1]
    assert res.new_tokens.tolist() == ref.sequences[0, p:].tolist()
    n_rows, n_layers = len(res.new_tokens), model.config.text_config.num_hidden_layers
    assert len(ref.attentions) == n_rows and len(ref.attentions[0]) == n_layers  # non-empty
    assert res.image_attention.shape == (n_rows, n_layers, len(req.image_positions))
    assert res.image_attention.dtype == np.float32
    for t in range(n_rows):
        for layer in range(n_layers):
            row = ref.attentions[t][layer][0, :, -1].mean(0).numpy()  # heads averaged
            assert row.shape == (p + t,)
            np.testing.assert_allclose(
                res.image_attention[t, layer], row[req.image_positions], atol=TOL, rtol=0
            )
            for name, pos in req.sections.items():
                assert abs(res.section_shares[name][t, layer] - row[pos].sum()) <= TOL
            assert abs(res.section_shares["generated"][t, layer] - row[p:].sum()) <= TOL
    total = sum(res.section_shares[k] for k in ("image", "question", "template", "generated"))
    np.testing.assert_allclose(total, 1.0, atol=TOL)


def test_sdpa_output_mode(case):
    """row_output=False calls sdpa for every output: same capture, same tokens here."""
    model, inputs, _ = case
    req = _request(model, inputs)
    a = generate_with_capture(model, inputs, req, max_new_tokens=STEPS, row_output=False)
    b = generate_with_capture(model, inputs, req, max_new_tokens=STEPS)
    assert a.new_tokens.tolist() == b.new_tokens.tolist()
    np.testing.assert_allclose(a.image_attention, b.image_attention, atol=TOL)


@pytest.mark.parametrize("path", ROW_PATHS)
def test_per_head(case, path, monkeypatch):
    model, inputs, ref = case
    req = _request(model, inputs, per_head=True)
    opts = _row_path(path, monkeypatch, model)
    res = generate_with_capture(model, inputs, req, max_new_tokens=STEPS, do_sample=False, **opts)
    heads = model.config.text_config.num_attention_heads
    assert res.image_attention.shape[2] == heads
    for t in range(len(res.new_tokens)):
        for layer in range(res.image_attention.shape[1]):
            got = res.image_attention[t, layer]
            want = ref.attentions[t][layer][0, :, -1][:, req.image_positions].numpy()
            np.testing.assert_allclose(got, want, atol=TOL, rtol=0)


@pytest.mark.parametrize("block_rows", [1, 4, None], ids=["row", "4-rows", "whole"])
def test_entropy_and_logprob(case, block_rows, monkeypatch):
    """Against eager logits, whether the logit block is reduced every step, with a partial
    tail (6 steps in blocks of 4) or once at the end (then without the stopping criterion)."""
    model, inputs, ref = case
    if block_rows is not None:
        monkeypatch.setattr(
            logits, "BLOCK_FLOATS", block_rows * model.config.text_config.vocab_size
        )
    criterion_calls = []
    called = logits.LogitStats.__call__

    def counted(stats, *args, **kwargs):
        criterion_calls.append(1)
        return called(stats, *args, **kwargs)

    monkeypatch.setattr(logits.LogitStats, "__call__", counted)
    res = generate_with_capture(model, inputs, _request(model, inputs), max_new_tokens=STEPS)
    assert len(res.new_tokens) == STEPS  # so the blocks of 4 leave a tail of 2
    assert len(criterion_calls) == (0 if block_rows is None else STEPS)
    for t, tok in enumerate(res.new_tokens):
        logp = torch.log_softmax(ref.logits[t][0].float(), -1)
        assert abs(res.token_entropy[t] - float(-(logp.exp() * logp).sum())) < TOL
        assert abs(res.token_logprob[t] - float(logp[tok])) < TOL


def test_hidden_taps(case):
    model, inputs, ref = case
    res = generate_with_capture(model, inputs, _request(model, inputs), max_new_tokens=STEPS)
    n_layers = model.config.text_config.num_hidden_layers
    norm = model.model.language_model.norm
    for got, hs in (
        (res.hidden_prompt, ref.hidden_states[0]),
        (res.hidden_last, ref.hidden_states[-1]),
    ):
        assert got.shape == (n_layers + 1, model.config.text_config.hidden_size)
        want = np.stack([h[0, -1].numpy() for h in hs])
        np.testing.assert_allclose(got[:-1], want[:-1], atol=TOL, rtol=0)  # embeddings + layers
        # transformers' last entry is after the final norm; the tap keeps the raw stream
        np.testing.assert_allclose(norm(torch.from_numpy(got[-1])).detach(), want[-1], atol=TOL)


def test_shared_prefill_cache(case):
    """The cache holds the prompt minus its last token; row 0 is still the last prompt token."""
    model, inputs, _ = case
    req = _request(model, inputs)
    plain = generate_with_capture(model, inputs, req, max_new_tokens=STEPS)
    with torch.no_grad():
        cache = model(
            **{k: v[:, :-1] if k != "pixel_values" else v for k, v in inputs.items()},
            use_cache=True,
        )[CACHE_KWARG]
    text_only = {k: v for k, v in inputs.items() if k != "pixel_values"}
    res = generate_with_capture(model, text_only, req, max_new_tokens=STEPS, past_key_values=cache)
    assert res.new_tokens.tolist() == plain.new_tokens.tolist()
    np.testing.assert_allclose(res.image_attention, plain.image_attention, atol=TOL)
    np.testing.assert_allclose(res.token_entropy, plain.token_entropy, atol=TOL)


def test_model_restored_and_plain_generate_unchanged(case):
    model, inputs, ref = case
    before = (
        model.config._attn_implementation,
        model.config.text_config._attn_implementation,
        model.config.vision_config._attn_implementation,
    )
    hooks = _hooks(model)
    with (
        pytest.raises(RuntimeError, match="boom"),
        engine.Capture(
            model, _request(model, inputs), prompt_len=inputs["input_ids"].shape[1], max_steps=2
        ),
    ):
        assert model.config.text_config._attn_implementation == ATTN_NAME
        assert model.config.vision_config._attn_implementation == before[2]
        raise RuntimeError("boom")
    generate_with_capture(model, inputs, _request(model, inputs), max_new_tokens=2)
    after = (
        model.config._attn_implementation,
        model.config.text_config._attn_implementation,
        model.config.vision_config._attn_implementation,
    )
    assert after == before
    assert _hooks(model) == hooks
    with torch.no_grad():
        again = model.generate(
            **inputs,
            do_sample=False,
            max_new_tokens=STEPS,
            output_attentions=True,
            return_dict_in_generate=True,
        )
    assert torch.equal(again.sequences, ref.sequences) and len(again.attentions[0]) > 0


def _hooks(model):
    return [(list(m._forward_hooks), list(m._forward_pre_hooks)) for m in model.modules()]


def test_empty_capture_raises(case, monkeypatch):
    """If the language model never reaches the capture function, fail loudly (no zeros)."""
    model, inputs, _ = case

    def sdpa_only() -> str:
        AttentionInterface.register(ATTN_NAME, sdpa_attention_forward)
        return ATTN_NAME

    monkeypatch.setattr(attention, "register", sdpa_only)
    try:
        with pytest.raises(EmptyCaptureError, match="no attention rows"):
            generate_with_capture(model, inputs, _request(model, inputs), max_new_tokens=2)
    finally:
        monkeypatch.undo()
        attention.register()


def test_request_validation(case):
    model, inputs, _ = case
    p = inputs["input_ids"].shape[1]
    bad = CaptureRequest(image_positions=np.array([p + 3]), sections={})
    with pytest.raises(ValueError, match="image_positions"):
        generate_with_capture(model, inputs, bad, max_new_tokens=1)
    reserved = CaptureRequest(image_positions=np.array([0]), sections={"generated": np.array([1])})
    with pytest.raises(ValueError, match="reserved"):
        generate_with_capture(model, inputs, reserved, max_new_tokens=1)
    double = {k: torch.cat([v, v]) for k, v in inputs.items()}
    with pytest.raises(ValueError, match="one sequence"):
        generate_with_capture(model, double, _request(model, inputs), max_new_tokens=1)


def test_replaced_attention_module_is_captured(case):
    """The decoder's structure is kept between captures only while its layers and attention
    modules are the same objects: a replaced attention module (an intervention) is captured."""
    import copy

    model, inputs, _ = case
    req = _request(model, inputs)
    first = generate_with_capture(model, inputs, req, max_new_tokens=STEPS)
    layer = model.model.language_model.layers[1]
    original = layer.self_attn
    replacement = copy.deepcopy(original)  # same weights, a new module
    replacement.config = original.config  # dispatching as the model's config says
    layer.self_attn = replacement
    try:
        again = generate_with_capture(model, inputs, req, max_new_tokens=STEPS)
    finally:
        layer.self_attn = original
    assert again.new_tokens.tolist() == first.new_tokens.tolist()
    np.testing.assert_allclose(again.image_attention, first.image_attention, atol=TOL)
