"""Logit-lens truth margin (SPEC §1): how far each layer's read-out prefers the right token.

``margin_l = logit_l(correct) - max_{v != correct} logit_l(v)`` with
``logit_l = lm_head(final_norm(h_l))`` (and the model's final logit soft-capping, if any, so the
last layer reproduces the model's real logits). ``apply_final_norm=False`` skips the norm, as
the study's reference code did. Positive = the correct token is the layer's top-1.

Which vectors to pass: vrprobe's records (``hidden_prompt``, ``hidden_last``) hold the raw
residual stream, so every row needs the norm. transformers' ``output_hidden_states`` tuple is
different: its last entry already has the final norm applied (checked for Llama/LLaVA in
transformers 5); pass ``last_is_normed=True`` for such a stack so the norm is not applied twice.
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch import nn

from vrprobe.models.roles import ModelRoles, model_roles


def margins_from_logits(logits: torch.Tensor, token_id: int) -> torch.Tensor:
    """``logits[..., token_id] - max`` of the other entries along the last axis.

    >>> margins_from_logits(torch.tensor([[1.0, 3.0, 2.0], [5.0, 3.0, 2.0]]), 1).tolist()
    [1.0, -2.0]
    """
    if not 0 <= token_id < logits.shape[-1]:
        raise ValueError(f"token id {token_id} outside the vocabulary (size {logits.shape[-1]})")
    target = logits[..., token_id]
    others = logits.clone()
    others[..., token_id] = float("-inf")
    return target - others.amax(dim=-1)


@torch.no_grad()
def layer_logits(roles: ModelRoles, hidden: torch.Tensor, *, apply_final_norm: bool = True,
                 last_is_normed: bool = False) -> torch.Tensor:  # fmt: skip
    """(L+1, vocab) float32 logit-lens read-out of ``hidden`` (L+1, d), one row per layer."""
    weight = next(roles.lm_head.parameters())
    h = hidden.to(device=weight.device, dtype=weight.dtype)
    if apply_final_norm:
        normed = roles.final_norm(h)
        if last_is_normed:
            normed = torch.cat([normed[:-1], h[-1:]])
        h = normed
    logits = roles.lm_head(h).float()
    cap = roles.final_logit_softcapping
    return torch.tanh(logits / cap) * cap if cap else logits


def truth_margin(model: nn.Module | ModelRoles, hidden: torch.Tensor | ArrayLike,
                 correct_token_id: int, *, apply_final_norm: bool = True,
                 last_is_normed: bool = False) -> np.ndarray:  # fmt: skip
    """(L+1,) truth margin per layer of ``hidden`` (L+1, d) for ``correct_token_id``.

    ``model`` is the model or its :func:`~vrprobe.models.roles.model_roles`. For a multi-token
    answer pass its first token (the one the query position predicts).

    >>> from vrprobe.models.tiny import tiny_llava
    >>> model = tiny_llava()[0]
    >>> truth_margin(model, np.zeros((3, 64), np.float32), 5).tolist()
    [0.0, 0.0, 0.0]
    """
    roles = model if isinstance(model, ModelRoles) else model_roles(model)
    h = hidden if isinstance(hidden, torch.Tensor) else torch.as_tensor(np.asarray(hidden))
    if h.ndim != 2 or h.shape[-1] != roles.hidden_size:
        raise ValueError(f"hidden must be (L+1, {roles.hidden_size}), got {tuple(h.shape)}")
    logits = layer_logits(
        roles, h, apply_final_norm=apply_final_norm, last_is_normed=last_is_normed
    )
    return margins_from_logits(logits, int(correct_token_id)).double().cpu().numpy()
