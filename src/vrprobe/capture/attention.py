"""Row-only attention capture, registered with transformers' attention registries.

Why: eager ``output_attentions=True`` materialises every layer's ``H x Q x K`` weights (for
LLaVA-NeXT-7B ~18 GB); the signals only need, per generation step, the attention row of the
*current* query. During decoding each forward has exactly one query row, so computing
``softmax(q_row . K^T * scale + mask_row)`` captures everything in the same generate pass.

Output: the prefill (Q > 1) always returns transformers' own ``sdpa_attention_forward``. On a
decode step (Q == 1) the row *is* the whole attention, so by default the output is finished from
it as eager attention does (``probs.to(dtype) @ V``) instead of calling sdpa, which would read
the K cache a second time: decode attention is memory-bound, and that second read cost ~0.25 ms
per layer and step at 2,304 image tokens on the bench model (~6% of a step). With
``row_output=False`` sdpa is always called (tokens then equal plain sdpa generation bit for bit;
with the row output they follow eager attention, within float rounding of sdpa).

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
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np
import torch
from transformers import AttentionInterface, AttentionMaskInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import sdpa_mask

ATTN_NAME = "vrprobe"


_ACTIVE: ContextVar[AttentionRecorder | None] = ContextVar("vrprobe_recorder", default=None)


@contextmanager
def active_recorder(recorder: AttentionRecorder) -> Iterator[AttentionRecorder]:
    """Make ``recorder`` receive attention rows inside the ``with`` block (context-local)."""
    token = _ACTIVE.set(recorder)
    try:
        yield recorder
    finally:
        _ACTIVE.reset(token)


class AttentionRecorder:
    """Receives (batch, heads, keys) rows from the attention function; keeps reduced views.

    Per row (one forward) and layer: the head-averaged weights (or per head) on the image
    positions, and head-averaged sums over the named prompt sections plus "generated" (keys
    after the prompt). Buffers are preallocated for ``max_rows`` rows on ``device``; a row's
    reduction runs once for all layers, after the last one.
    """

    def __init__(
        self,
        layer_of: dict[int, int],
        n_heads: int,
        image_positions: np.ndarray,
        sections: dict[str, np.ndarray],
        per_head: bool,
        prompt_len: int,
        max_rows: int,
        row_output: bool = True,
        device: torch.device | str = "cpu",
    ) -> None:
        names = [*sections, "generated"]
        if "generated" in sections:
            raise ValueError('section name "generated" is reserved (keys after the prompt)')
        img = _positions(image_positions, prompt_len, "image_positions")
        self.layer_of, self.prompt_len, self.names = layer_of, prompt_len, names
        n_layers = len(set(layer_of.values()))
        heads, f32 = ((n_heads,) if per_head else ()), {"dtype": torch.float32, "device": device}
        self.image = torch.empty(max_rows, n_layers, *heads, len(img), **f32)
        self.shares = torch.empty(max_rows, n_layers, len(names), **f32)
        # keys x sections indicator: a prefix slice covers the keys of any step
        sec = np.zeros((prompt_len + max_rows, len(names)), dtype=np.float32)  # numpy: cheaper
        for j, name in enumerate(sections):
            pos = sections[name]  # the image section is usually the image positions, checked
            sec[img if pos is image_positions else _positions(pos, prompt_len, name), j] = 1.0
        sec[prompt_len:, -1] = 1.0
        self.device = torch.device(device)
        self.sec_t = torch.from_numpy(sec)
        self.image_idx = torch.from_numpy(img)
        if self.device.type != "cpu":
            self.sec_t, self.image_idx = self.sec_t.to(device), self.image_idx.to(device)
        # the row (forward) being recorded: 0 = the prefill; `advance` after each forward
        self.per_head, self.row_output, self.row, self.calls = per_head, row_output, 0, 0
        # rows of the current step, head-averaged and reduced for all layers at once after the last
        self._rows: list[torch.Tensor] = [torch.empty(0)] * n_layers
        self.last_layer = max(layer_of.values())

    def advance(self) -> None:
        """A forward of the language model finished: the next row starts."""
        self.row += 1

    def record(self, layer: int, probs: torch.Tensor) -> None:
        """Keep the row of ``layer``; after the last layer, reduce the step (one head mean,
        one image gather and one section product for all layers)."""
        row, n_keys = self.row, self.prompt_len + self.row
        if probs.shape[-1] > n_keys:
            probs = probs[..., :n_keys]  # static cache: trailing slots are masked (zero weight)
        elif probs.shape[-1] < n_keys:
            probs = window_to_absolute(probs, n_keys)
        if probs.device != self.device:  # layers spread over devices
            probs = probs.to(self.device)
        self._rows[layer] = probs
        if self.per_head:
            torch.index_select(probs[0], 1, self.image_idx, out=self.image[row, layer])
        self.calls += 1
        if layer == self.last_layer:
            rows = torch.stack(self._rows).mean(dim=(1, 2))
            if not self.per_head:
                torch.index_select(rows, 1, self.image_idx, out=self.image[row])
            torch.mm(rows, self.sec_t[:n_keys], out=self.shares[row])


def window_to_absolute(probs: torch.Tensor, n_keys: int) -> torch.Tensor:
    """A sliding-window layer's row over its ``k`` cached keys, placed on all ``n_keys``.

    A windowed cache (``DynamicSlidingWindowLayer``) hands the attention only the trailing
    ``k`` keys, i.e. absolute positions ``n_keys - k .. n_keys - 1``; keys before the window get
    weight 0, which is exactly what the layer attends to them.

    >>> window_to_absolute(torch.tensor([[[0.25, 0.75]]]), 4).tolist()
    [[[0.0, 0.0, 0.25, 0.75]]]
    """
    k = probs.shape[-1]
    if k > n_keys:
        raise ValueError(f"a window of {k} keys cannot lie inside {n_keys} keys")
    full = probs.new_zeros(*probs.shape[:-1], n_keys)
    full[..., n_keys - k :] = probs
    return full


def _positions(values: np.ndarray, prompt_len: int, name: str) -> np.ndarray:
    arr = np.ascontiguousarray(values, dtype=np.int64).reshape(-1)
    if arr.size and (arr.min() < 0 or arr.max() >= prompt_len):
        raise ValueError(f"{name}: positions must lie in [0, {prompt_len}) (the prompt)")
    return arr


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
        _zero(query),
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


_ZEROS: dict[tuple[torch.dtype, torch.device], torch.Tensor] = {}


def _zero(like: torch.Tensor) -> torch.Tensor:
    """A 0-dim zero of ``like``'s dtype and device (``baddbmm``'s ignored input, made once)."""
    key = (like.dtype, like.device)
    zero = _ZEROS.get(key)
    if zero is None:
        zero = _ZEROS[key] = torch.zeros((), dtype=like.dtype, device=like.device)
    return zero


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
    """The registered attention: record the last query row, then return sdpa's output."""
    recorder = _ACTIVE.get()
    if recorder is not None:
        layer = recorder.layer_of.get(id(module))
        if layer is not None:
            softcap = kwargs.get("softcap")
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
