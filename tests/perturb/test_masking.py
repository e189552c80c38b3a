"""Top-attended patch masking: planted maps, eager references, exact restoration."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vrprobe.capture.engine import CaptureRequest, generate_with_capture
from vrprobe.models.loading import load_model
from vrprobe.models.prepare import prepare
from vrprobe.perturb import masking
from vrprobe.tasks.shapes import ShapesTask

BLOCKED = np.array([3, 9, 10, 30, 63])  # image-token indices


@pytest.fixture(scope="module")
def demo():
    loaded = load_model("demo")
    sample = next(iter(ShapesTask(split="test").samples(1)))
    image = sample.load_image()
    return loaded, image, prepare(loaded, image, sample.question)


def test_planted_attention_removes_exactly_the_planted_patches(demo):
    _, image, prep = demo
    n = len(prep.layout.positions)
    scores = np.random.default_rng(0).random(n) * 0.01
    planted = np.sort(np.random.default_rng(1).choice(n, int(np.ceil(0.3 * n)), replace=False))
    scores[planted] += 1.0
    tokens = masking.top_tokens(scores)
    assert tokens.tolist() == planted.tolist()
    fill = (1, 2, 3)
    out = np.asarray(masking.mask_pixels(image, masking.token_boxes(prep.layout, tokens), fill))
    expected = np.zeros((64, 64), bool)  # 8x8 grid of 8-pixel patches on the 64x64 image
    for t in planted:
        r, c = divmod(int(t), 8)
        expected[8 * r : 8 * r + 8, 8 * c : 8 * c + 8] = True
    assert (out[expected] == fill).all()
    assert (out[~expected] == np.asarray(image)[~expected]).all()


def _reference_mask(k_len: int, positions: np.ndarray) -> torch.Tensor:
    """Eager's additive 4D mask: causal, blocked keys -inf except on their own row."""
    q = torch.arange(k_len)[:, None]
    k = torch.arange(k_len)[None, :]
    allowed = (k <= q) & ~(torch.isin(k, torch.as_tensor(positions)) & (k != q))
    neg = torch.finfo(torch.float32).min
    return torch.zeros(1, 1, k_len, k_len).masked_fill(~allowed, neg)


def _eager_greedy(model, inputs, positions, steps):
    """Reference decoding: full forwards without cache, eager attention with an explicit mask."""
    ids, logps = inputs["input_ids"], []
    for _ in range(steps):
        batch = {
            **inputs,
            "input_ids": ids,
            "attention_mask": _reference_mask(ids.shape[1], positions),
        }
        logits = model(**batch).logits[0, -1].float()
        nxt = int(logits.argmax())
        logps.append(float(torch.log_softmax(logits, -1)[nxt]))
        ids = torch.cat([ids, torch.tensor([[nxt]])], dim=1)
    return ids[0, inputs["input_ids"].shape[1] :].tolist(), logps


def test_blocking_keys_matches_eager_attention_with_those_keys_masked(demo):
    loaded, _, prep = demo
    eager = load_model("demo", attn_implementation="eager").model
    positions = prep.layout.positions[BLOCKED]
    with torch.inference_mode():
        want_tokens, want_logp = _eager_greedy(eager, prep.inputs, positions, 3)
        plain = eager(**prep.inputs).logits[0, -1]
        with masking.block_keys(loaded.model, positions):  # sdpa prefill, mask None → built
            sdpa = loaded.model(**prep.inputs).logits[0, -1]
        with masking.block_keys(eager, positions):  # eager: additive float mask edited
            eager_blocked = eager(**prep.inputs).logits[0, -1]
        with masking.block_keys(loaded.model, positions):  # capture + KV cache decoding
            req = CaptureRequest(prep.layout.positions, prep.sections, hidden=False)
            res = generate_with_capture(loaded.model, prep.inputs, req, max_new_tokens=3)
    ref = torch.log_softmax(eager(**{**prep.inputs, "attention_mask": _reference_mask(
        prep.prompt_len, positions)}).logits[0, -1], -1)  # fmt: skip
    assert not torch.allclose(torch.log_softmax(plain, -1), ref, atol=1e-3)  # it does something
    torch.testing.assert_close(torch.log_softmax(sdpa, -1), ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.log_softmax(eager_blocked, -1), ref, atol=1e-5, rtol=0)
    n = len(res.new_tokens)  # generation stops at end-of-sequence
    assert n >= 2 and res.new_tokens.tolist() == want_tokens[:n]
    np.testing.assert_allclose(res.token_logprob, want_logp[:n], atol=1e-4)
    # captured rows put no weight on blocked keys
    assert float(np.abs(res.image_attention[:, :, BLOCKED]).max()) == 0.0


def test_zeroing_embeddings_matches_zeroed_inputs_embeds(demo):
    loaded, _, prep = demo
    model, positions = loaded.model, prep.layout.positions[BLOCKED]
    seen = {}
    lm = model.get_decoder()
    handle = lm.register_forward_pre_hook(
        lambda m, a, kw: seen.update(e=kw["inputs_embeds"].clone()), with_kwargs=True
    )
    with torch.inference_mode():
        model(**prep.inputs)
        handle.remove()
        embeds = seen["e"].clone()
        embeds[:, positions] = 0
        hidden = lm(inputs_embeds=embeds).last_hidden_state
        ref = model.lm_head(hidden)[0, -1]
        with masking.zero_embeddings(model, positions):
            got = model(**prep.inputs).logits[0, -1]
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=0)


def _state(model):
    hooks = sum(len(m._forward_pre_hooks) + len(m._forward_hooks) for m in model.modules())
    return {k: v.clone() for k, v in model.state_dict().items()}, hooks


@pytest.mark.parametrize("manager", [masking.block_keys, masking.zero_embeddings])
def test_model_is_restored_exactly_on_exit_and_after_an_exception(demo, manager):
    loaded, _, prep = demo
    before, hooks = _state(loaded.model)
    with torch.inference_mode():
        with manager(loaded.model, prep.layout.positions[BLOCKED]):
            loaded.model(**prep.inputs)
        with (
            pytest.raises(RuntimeError, match="boom"),
            manager(loaded.model, prep.layout.positions[BLOCKED]),
        ):
            loaded.model(**prep.inputs)
            raise RuntimeError("boom")
    after, hooks_after = _state(loaded.model)
    assert hooks_after == hooks
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
