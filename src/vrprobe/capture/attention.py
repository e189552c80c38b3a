"""Row-only attention capture, registered with transformers' attention registries.

Why: eager ``output_attentions=True`` materialises every layer's ``H x Q x K`` weights (for
LLaVA-NeXT-7B ~18 GB); the signals only need, per generation step, the attention row of the
*current* query. During decoding each forward has exactly one query row, so computing
``softmax(q_row . K^T * scale + mask_row)`` captures everything in the same generate pass.

Two paths (``recorder``): a full-attention layer's calls only queue their query, the model's
own attention (sdpa) gives the output, and the rows of many steps are computed at once later
(``rows``). Any other layer (sliding window, static cache) gets :func:`attention_row` in its
step; on a decode step (Q == 1) that row *is* the whole attention, so by default the output is
finished from it as eager attention does (``probs.to(dtype) @ V``) instead of calling sdpa,
which would read the K cache a second time. With ``row_output=False`` sdpa is always called
(tokens then equal plain sdpa generation bit for bit; with the row output they follow eager
attention, within float rounding of sdpa). Queued layers always give sdpa's output.

:func:`register` installs :func:`vrprobe_attention_forward` under :data:`ATTN_NAME` in
``AttentionInterface`` and sdpa's mask builder under the same name in ``AttentionMaskInterface``
(the mask creation looks the name up there; a missing entry silently drops the mask). The function
records only while a recorder is active (:func:`active_recorder`) and only for attention modules
the recorder knows (the language model): anything else is passed to sdpa untouched.

Family quirks: GQA (query heads grouped per KV head), logit soft-capping (the row applies it;
outputs of soft-capped layers come from the family's eager kernel, sdpa cannot cap), sliding-
window layers (a windowed cache hands over only the trailing keys: the row is placed back on
absolute positions, zero before the window) and bidirectional blocks (read from the mask).
"""

from __future__ import annotations

import sys

import torch
from transformers import AttentionInterface, AttentionMaskInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import sdpa_mask

from vrprobe.capture.recorder import _ACTIVE, AttentionRecorder, active_recorder
from vrprobe.capture.rows import scalar_zero

__all__ = ["ATTN_NAME", "AttentionRecorder", "active_recorder", "attention_row", "register"]

ATTN_NAME = "vrprobe"


def attention_row(
    query: torch.Tensor,
    key: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    softcap: float | None = None,
) -> torch.Tensor:
    """Attention probabilities of the last query row: (batch, heads, keys), float32.

    ``query`` is (B, H, Q, D), ``key`` (B, H_kv, K, D) with H a multiple of H_kv (GQA): the
    query heads are grouped per KV head instead of repeating K. Head ``h`` uses KV head
    ``h // (H // H_kv)``, as transformers' ``repeat_kv``. ``attention_mask`` is sdpa's boolean
    mask (True = attend), an additive float mask, or None (plain causal; like sdpa, with
    Q > 1 and K > Q the causal alignment is upper-left, so the last row sees the first Q keys).
    Soft-capping follows eager Gemma 2: ``tanh(s / cap) * cap`` before the mask.

    >>> q, k = torch.randn(1, 4, 3, 8), torch.randn(1, 2, 3, 8)
    >>> ref = torch.softmax(q[:, :, -1:] @ k.repeat_interleave(2, 1).transpose(-1, -2) / 8**0.5, -1)
    >>> torch.allclose(attention_row(q, k, None), ref[:, :, 0], atol=1e-6)
    True
    """
    b, h, q_len, d = query.shape
    h_kv = key.shape[1]
    if attention_mask is None and q_len > 1 and key.shape[2] > q_len:
        key = key[:, :, :q_len]
    n_keys = key.shape[2]
    q = query if q_len == 1 else query[:, :, -1:, :]
    # one batched product per KV head, scaled inside it (as eager: (q . K^T) * scale): every
    # op counts here, this runs for every layer and step
    scores = torch.baddbmm(
        scalar_zero(query),
        q.reshape(b * h_kv, h // h_kv, d),
        key.reshape(b * h_kv, n_keys, d).transpose(1, 2),
        beta=0,
        alpha=d**-0.5 if scaling is None else scaling,
    ).view(b, h, n_keys)
    if softcap is not None:
        scores = torch.tanh(scores / softcap) * softcap
    if attention_mask is not None:
        row = attention_mask[:, :, -1, :n_keys]
        if row.dtype == torch.bool:
            scores = scores.masked_fill(~row, float("-inf"))
        else:
            scores = scores + row
    return torch.softmax(scores, dim=-1, dtype=torch.float32)


def row_output(probs: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """Attention output of one query row as eager computes it: (B, 1, H, D) from (B, H, K).

    >>> v = torch.randn(1, 2, 3, 4)
    >>> p = torch.softmax(torch.randn(1, 4, 3), -1)
    >>> ref = p.unsqueeze(2) @ v.repeat_interleave(2, 1)
    >>> torch.allclose(row_output(p, v), ref.transpose(1, 2), atol=1e-6)
    True
    """
    b, h, n_keys = probs.shape
    h_kv, d = value.shape[1], value.shape[-1]
    p = probs if probs.dtype == value.dtype else probs.to(value.dtype)
    out = torch.bmm(p.view(b * h_kv, h // h_kv, n_keys), value.reshape(b * h_kv, n_keys, d))
    return out.view(b, 1, h, d)


def _plain(kwargs: dict) -> bool:
    """No attention feature the row output does not reproduce (sinks, positional bias...)."""
    return all(kwargs.get(k) is None for k in ("s_aux", "sinks", "position_bias", "cache"))


def vrprobe_attention_forward(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: object,
) -> tuple[torch.Tensor, None]:
    """The registered attention: queue or record the last query row, then return the output
    (sdpa's, or for a row computed in a decode step, finished from that row)."""
    recorder = _ACTIVE.get()
    if recorder is not None:
        layer = recorder.layer_of.get(id(module))
        if layer is not None:
            softcap = kwargs.get("softcap")
            window = kwargs.get("sliding_window")
            if not recorder.queue(layer, query, key, attention_mask, scaling, softcap, window):  # type: ignore[arg-type]
                probs = attention_row(query, key, attention_mask, scaling, softcap)  # type: ignore[arg-type]
                recorder.record(layer, probs)
                if recorder.row_output and query.shape[2] == 1 and not dropout and _plain(kwargs):
                    return row_output(probs, value), None
    if kwargs.get("softcap") is not None:  # sdpa cannot soft-cap: the family's eager kernel
        return softcap_output(module, query, key, value, attention_mask, dropout, scaling, **kwargs)
    return sdpa_attention_forward(
        module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
    )


def softcap_output(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float,
    scaling: float | None,
    **kwargs: object,
) -> tuple[torch.Tensor, None]:
    """Attention output with logit soft-capping (Gemma 2/3), by the module's own
    ``eager_attention_forward``; sdpa's boolean mask becomes eager's additive one."""
    eager = getattr(sys.modules[type(module).__module__], "eager_attention_forward", None)
    if eager is None:
        raise NotImplementedError(f"{type(module).__name__}: soft-capping without an eager kernel")
    if attention_mask is not None and attention_mask.dtype == torch.bool:
        neg = torch.finfo(query.dtype).min
        attention_mask = torch.zeros_like(attention_mask, dtype=query.dtype).masked_fill(
            ~attention_mask, neg
        )
    out, _ = eager(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                   **kwargs)  # fmt: skip
    return out, None


def register() -> str:
    """Register the attention and mask functions under :data:`ATTN_NAME` (idempotent).

    >>> register() in AttentionInterface() and ATTN_NAME in AttentionMaskInterface()
    True
    """
    AttentionInterface.register(ATTN_NAME, vrprobe_attention_forward)
    AttentionMaskInterface.register(ATTN_NAME, sdpa_mask)
    return ATTN_NAME
