"""Model roles found through the model's own attributes, on tiny models."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from vrprobe.models.roles import ModelRoles, UnknownLayoutError, model_roles
from vrprobe.models.tiny import tiny_llava


def test_tiny_llava_roles() -> None:
    model, _ = tiny_llava(layers=3, hidden=32)
    roles = model_roles(model)
    assert isinstance(roles, ModelRoles)
    lm = model.model.language_model
    assert roles.layers is lm.layers and roles.n_layers == 3 and roles.hidden_size == 32
    assert roles.final_norm is lm.norm
    assert roles.lm_head is model.lm_head
    assert roles.embed_tokens is model.get_input_embeddings()
    assert roles.final_logit_softcapping is None


def test_text_only_causal_lm() -> None:
    cfg = LlamaConfig(vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=1)  # fmt: skip
    model = LlamaForCausalLM(cfg)
    roles = model_roles(model)
    assert roles.layers is model.model.layers and roles.final_norm is model.model.norm
    assert roles.lm_head is model.lm_head and roles.n_layers == 2 and roles.hidden_size == 16


def test_softcapping_is_read_from_the_text_config() -> None:
    model, _ = tiny_llava()
    model.config.text_config.final_logit_softcapping = 30.0
    assert model_roles(model).final_logit_softcapping == 30.0


def test_unknown_layout_is_a_clear_error() -> None:
    with pytest.raises(UnknownLayoutError, match=r"`\.layers`.*Sequential"):
        model_roles(torch.nn.Sequential(torch.nn.Linear(2, 2)))
    model, _ = tiny_llava()
    del model.lm_head
    with pytest.raises(UnknownLayoutError, match="an LM head"):
        model_roles(model)
