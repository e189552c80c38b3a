"""Each intervention changes the model only inside its block, by construction-known amounts."""

from __future__ import annotations

import pytest
import torch

from tests.interventions.conftest import assert_same, logits, make_loaded, snapshot
from vrprobe.interventions.ablate import ablate_heads, zero_dims
from vrprobe.interventions.patching import patch_inputs, record_inputs
from vrprobe.interventions.swap import LayerSwapError, replace_layers
from vrprobe.models.roles import model_roles
from vrprobe.models.tiny import tiny_llava
from vrprobe.perturb.blur import blank_image


@pytest.fixture(scope="module")
def donor():
    return make_loaded(seed=7).model


@pytest.fixture(scope="module")
def twin():
    return make_loaded(seed=0).model


def _contexts(loaded, image, donor):
    model = loaded.model
    cf = loaded.inputs(blank_image(image), "what colour is it?")
    rec = record_inputs(model, cf, [0, 1])
    return [
        lambda: zero_dims(model, 1, [0, 3, 9]),
        lambda: ablate_heads(model, 0, [1, 2]),
        lambda: replace_layers(model, donor, 0, 2),
        lambda: patch_inputs(model, rec),
    ]


def test_every_context_restores_exactly_also_on_exception(loaded, image, inputs, donor):
    model = loaded.model
    base = logits(model, inputs)
    for make in _contexts(loaded, image, donor):
        before = snapshot(model)
        with make():
            changed = logits(model, inputs)
        assert_same(before, snapshot(model))
        assert not torch.allclose(changed, base)
        with pytest.raises(RuntimeError, match="boom"), make():
            raise RuntimeError("boom")
        assert_same(before, snapshot(model))
        assert torch.equal(logits(model, inputs), base)


def test_zero_no_dims_is_identity_and_a_full_layer_changes_logits(loaded, inputs):
    model = loaded.model
    base = logits(model, inputs)
    with zero_dims(model, 0, []):
        assert torch.equal(logits(model, inputs), base)
    width = model_roles(model).hidden_size
    with zero_dims(model, 1, range(width)):
        zeroed = logits(model, inputs)
    assert not torch.allclose(zeroed, base)
    # the last layer's output all zero: final norm of 0 is 0, so logits are the head's bias (0)
    assert torch.allclose(zeroed, torch.zeros_like(zeroed))


def test_zero_dims_names_bad_input(loaded):
    with pytest.raises(ValueError, match="layer 5 out of range"), zero_dims(loaded.model, 5, [0]):
        pass
    with (
        pytest.raises(ValueError, match=r"dims must lie in \[0, 64\)"),
        zero_dims(loaded.model, 0, [64]),
    ):
        pass


def test_ablating_all_heads_equals_zeroing_the_attention_output(loaded, inputs):
    model = loaded.model
    attn = model_roles(model).layers[1].self_attn
    with ablate_heads(model, 1, range(4)):
        ablated = logits(model, inputs)
    handle = attn.register_forward_hook(lambda _m, _a, out: (torch.zeros_like(out[0]), *out[1:]))
    try:
        zeroed = logits(model, inputs)
    finally:
        handle.remove()
    assert torch.allclose(ablated, zeroed, atol=1e-6)
    assert not torch.allclose(ablated, logits(model, inputs))
    with pytest.raises(ValueError, match="heads \\[4\\] out of range"), ablate_heads(model, 0, [4]):
        pass


def test_swapping_layers_of_an_identical_checkpoint_changes_nothing(loaded, inputs, twin, donor):
    model = loaded.model
    base = logits(model, inputs)
    with replace_layers(model, twin, 0, 2):
        assert torch.equal(logits(model, inputs), base)
    with replace_layers(model, donor, 1, 2):
        assert not torch.allclose(logits(model, inputs), base)


def test_swap_refuses_mismatched_architectures(loaded):
    wider = tiny_llava(hidden=32)[0]
    with (
        pytest.raises(LayerSwapError, match="mismatched shapes at layer 0"),
        replace_layers(loaded.model, wider, 0, 1),
    ):
        pass
    deeper = tiny_llava(layers=3)[0]
    with (
        pytest.raises(LayerSwapError, match="2 decoder layers, donor 3"),
        replace_layers(loaded.model, deeper, 0, 1),
    ):
        pass
    with (
        pytest.raises(LayerSwapError, match=r"range \[1, 1\)"),
        replace_layers(loaded.model, loaded.model, 1, 1),
    ):
        pass


def test_patching_every_layer_reproduces_the_counterfactual(loaded, image, inputs):
    model = loaded.model
    cf = loaded.inputs(blank_image(image), "what colour is it?")
    n = model_roles(model).n_layers
    rec = record_inputs(model, cf, list(range(n)))
    with patch_inputs(model, rec):
        patched = logits(model, inputs)
        gen = model.generate(**inputs, do_sample=False, max_new_tokens=4)
    assert torch.allclose(patched, logits(model, cf), atol=1e-5)
    want = model.generate(**cf, do_sample=False, max_new_tokens=4)
    assert torch.equal(gen[:, -4:], want[:, -4:])
    image_pos = torch.nonzero(inputs["input_ids"][0] == loaded.image_token_id)[:, 0]
    with patch_inputs(model, rec, image_pos):  # the prompts differ only at the image
        assert torch.allclose(logits(model, inputs), logits(model, cf), atol=1e-5)
    with patch_inputs(model, {1: rec[1]}, image_pos):  # one late layer: somewhere in between
        mid = logits(model, inputs)
    assert not torch.allclose(mid, logits(model, cf), atol=1e-5)
    assert not torch.allclose(mid, logits(model, inputs), atol=1e-5)
