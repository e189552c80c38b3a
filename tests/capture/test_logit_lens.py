"""Logit-lens truth margin: agrees with the model's real logits and with a hand computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from vrprobe.capture.hidden import HiddenTaps
from vrprobe.capture.logit_lens import margins_from_logits, truth_margin
from vrprobe.models.roles import model_roles
from vrprobe.models.tiny import tiny_llava


@pytest.fixture(scope="module")
def forward():
    """One prefill of a tiny LLaVA: model, transformers' hidden stack, raw taps, logits."""
    model, processor = tiny_llava(layers=3)
    with torch.no_grad():  # a non-trivial norm weight, so normalising twice shows
        model.model.language_model.norm.weight.uniform_(0.5, 2.0)
    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "hue?"}]}]
    text = processor.apply_chat_template(msgs, add_generation_prompt=True)
    inputs = processor(images=Image.new("RGB", (32, 32), (9, 80, 200)), text=text,
                       return_tensors="pt")  # fmt: skip
    roles = model_roles(model)
    taps = HiddenTaps(roles.layers, roles.hidden_size, step=lambda: 0)
    with torch.no_grad():
        out = model(**inputs, output_hidden_states=True)
    taps.remove()
    stack = torch.stack([h[0, -1] for h in out.hidden_states])  # (L+1, d)
    return model, stack, taps.prompt.clone(), out.logits[0, -1]


def test_transformers_last_hidden_state_is_already_normed(forward) -> None:
    model, stack, raw, _ = forward
    torch.testing.assert_close(stack[:-1], raw[:-1])
    torch.testing.assert_close(stack[-1], model.model.language_model.norm(raw[-1]))


@pytest.mark.parametrize("token", [0, 7, 100])
def test_last_layer_matches_model_output(forward, token: int) -> None:
    model, stack, raw, logits = forward
    top = int(logits.argmax())
    for t in (token, top):
        expected = float(margins_from_logits(logits, t))
        from_raw = truth_margin(model, raw, t)  # records: raw residual stream
        from_stack = truth_margin(model, stack, t, last_is_normed=True)
        assert abs(from_raw[-1] - expected) <= 1e-4
        assert abs(from_stack[-1] - expected) <= 1e-4
        np.testing.assert_allclose(from_raw, from_stack, atol=1e-5)
        normed_twice = truth_margin(model, stack, t)[-1]
        assert abs(normed_twice - expected) > 1e-3
    assert truth_margin(model, raw, top)[-1] > 0


def test_hand_computation(forward) -> None:
    model, _, raw, _ = forward
    h = raw.double().numpy()
    norm = model.model.language_model.norm
    w_norm = norm.weight.detach().double().numpy()
    w_head = model.lm_head.weight.detach().double().numpy()
    normed = h / np.sqrt((h**2).mean(axis=-1, keepdims=True) + norm.variance_epsilon) * w_norm
    for hidden_rows, apply in ((normed, True), (h, False)):
        logits = hidden_rows @ w_head.T
        token = 42
        others = np.delete(logits, token, axis=1).max(axis=1)
        expected = logits[:, token] - others
        got = truth_margin(model, raw.numpy(), token, apply_final_norm=apply)
        assert got.shape == (4,)
        np.testing.assert_allclose(got, expected, atol=1e-4)


def test_softcapping_and_errors(forward) -> None:
    model, _, raw, _ = forward
    roles = model_roles(model)
    capped = model_roles(model)
    object.__setattr__(capped, "final_logit_softcapping", 2.0)
    logits = model.lm_head(model.model.language_model.norm(raw)).detach()
    expected = margins_from_logits(torch.tanh(logits / 2.0) * 2.0, 3).numpy()
    np.testing.assert_allclose(truth_margin(capped, raw, 3), expected, atol=1e-5)
    assert not np.allclose(truth_margin(roles, raw, 3), expected)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        truth_margin(roles, raw, 10**6)
    with pytest.raises(ValueError, match=r"hidden must be \(L\+1, 64\)"):
        truth_margin(roles, raw[:, :10], 3)
