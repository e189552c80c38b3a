"""Model roles: the decoder layers, final norm, LM head and token embedding of a (V)LM.

Hooks, the logit lens and ablations need these modules, not their dotted paths, which move
between transformers versions and families (transformers 5 LLaVA: ``model.model.language_model
.layers``; 4.x: ``model.language_model.model.layers``). ``model_roles`` finds them through the
model's own accessors (``get_decoder``, ``get_output_embeddings``, ``get_input_embeddings``) and
a few attribute fallbacks, and fails with a clear message for an unknown layout.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from torch import nn


class UnknownLayoutError(ValueError):
    """The model's decoder layers, final norm or LM head could not be located."""


@dataclass(frozen=True, eq=False)
class ModelRoles:
    """The modules of a decoder-only language model (or the text side of a VLM).

    ``layers[i]`` maps the residual stream ``h_i`` to ``h_{i+1}``; logits are
    ``lm_head(final_norm(h_L))``, then ``softcap * tanh(logits / softcap)`` when
    ``final_logit_softcapping`` is set (Gemma 2/3).
    """

    layers: nn.ModuleList
    final_norm: nn.Module
    lm_head: nn.Module
    embed_tokens: nn.Module
    n_layers: int
    hidden_size: int
    final_logit_softcapping: float | None = None


def _children(module: nn.Module) -> list[nn.Module]:
    """Candidate language models under ``module``, most specific first."""
    found: list[nn.Module] = []
    get_decoder = getattr(module, "get_decoder", None)
    if callable(get_decoder):
        with contextlib.suppress(AttributeError, NotImplementedError, ValueError):
            found.append(get_decoder())
    for path in ("model.language_model", "language_model", "model.text_model", "model"):
        obj: object = module
        for part in path.split("."):
            obj = getattr(obj, part, None)
        if isinstance(obj, nn.Module):
            found.append(obj)
    return found


def _language_model(model: nn.Module) -> nn.Module | None:
    """The first module (depth ≤ 3) with a ``layers`` ModuleList and a ``norm``."""
    frontier = [model]
    for _ in range(3):
        for m in frontier:
            if isinstance(getattr(m, "layers", None), nn.ModuleList) and isinstance(
                getattr(m, "norm", None), nn.Module
            ):
                return m
        frontier = [c for m in frontier for c in _children(m) if c is not m]
    return None


def _lm_head(model: nn.Module, lm: nn.Module) -> nn.Module | None:
    for owner in (model, getattr(model, "language_model", None), getattr(model, "model", None)):
        try:
            head = owner.get_output_embeddings()  # type: ignore[union-attr]
        except (AttributeError, NotImplementedError):
            head = None
        head = head if isinstance(head, nn.Module) else getattr(owner, "lm_head", None)
        if isinstance(head, nn.Module) and head is not lm:
            return head
    return None


def model_roles(model: nn.Module) -> ModelRoles:
    """Locate the roles of a LLaVA-style ``*ForConditionalGeneration`` (or a ``*ForCausalLM``).

    >>> from vrprobe.models.tiny import tiny_llava
    >>> roles = model_roles(tiny_llava()[0])
    >>> roles.n_layers, roles.hidden_size, type(roles.final_norm).__name__
    (2, 64, 'LlamaRMSNorm')
    """
    name = type(model).__name__
    lm = _language_model(model)
    head = _lm_head(model, lm) if lm is not None else None
    if lm is None or head is None:
        kids = ", ".join(n for n, _ in model.named_children()) or "none"
        missing = "a language model with `.layers` and `.norm`" if lm is None else "an LM head"
        raise UnknownLayoutError(
            f"cannot find {missing} in {name} (children: {kids}); supported layouts: "
            "transformers *ForConditionalGeneration / *ForCausalLM whose decoder exposes "
            "`.layers` (ModuleList) and `.norm`, with `lm_head` or get_output_embeddings()"
        )
    embed = getattr(lm, "embed_tokens", None)
    if not isinstance(embed, nn.Module):
        embed = model.get_input_embeddings()  # type: ignore[operator]
    config = getattr(lm, "config", None) or getattr(model, "config", None)
    hidden = getattr(config, "hidden_size", None) or embed.embedding_dim  # type: ignore[union-attr]
    softcap = None
    top = getattr(model, "config", None)
    for cfg in (top, getattr(top, "get_text_config", lambda: None)(), config):
        softcap = softcap or getattr(cfg, "final_logit_softcapping", None)
    return ModelRoles(lm.layers, lm.norm, head, embed, len(lm.layers), int(hidden),
                      float(softcap) if softcap else None)  # fmt: skip


def decoder_attention(lm: nn.Module) -> tuple[tuple[nn.Module, ...], tuple[nn.Module, ...]]:
    """The decoder ``lm``'s layers and their attention modules (``.layers[i].self_attn``), the
    modules the capture routes and the masking hooks; NotImplementedError for another layout.

    >>> from vrprobe.models.tiny import tiny_llava
    >>> layers, attn = decoder_attention(tiny_llava()[0].get_decoder())
    >>> len(layers), type(attn[0]).__name__
    (2, 'LlamaAttention')
    """
    layers = getattr(lm, "layers", None)
    attn = () if layers is None else tuple(getattr(x, "self_attn", None) for x in layers)
    if layers is None or any(a is None for a in attn):
        raise NotImplementedError(f"{type(lm).__name__}: expected .layers[i].self_attn")
    return tuple(layers), attn  # type: ignore[return-value]
