"""Attention rows of many steps and layers at once, from full-attention layers' grown keys.

Why: a row per layer and step costs ~6 small tensor ops, every layer and step; on a short
answer they are a large part of a check's overhead, on a long one they add up. With a dynamic
cache the keys a full-attention layer hands to step t are a prefix of its keys at any later
step, so the rows of many steps come from one product: row t = softmax(q_t . K[:n_t]^T *
scale), keys from n_t on masked; layers with the same scaling are stacked on the batch axis.
The engine queues each step's query (a few KB; the step's own output comes from the model's
attention as usual) and computes the queued rows every :data:`FLUSH_STEPS` steps and at the
end, in chunks of layers holding at most :data:`CHUNK_FLOATS` scores or stacked keys (at least
one layer; :data:`FLUSH_STEPS` bounds a layer's scores), so memory stays bounded.
Layers whose keys are not the whole prefix (sliding windows, static caches) keep the per-step
row (``attention``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch

FLUSH_STEPS = 64  # queued steps before their rows are computed
CHUNK_FLOATS = 1 << 20  # scores (or stacked keys) computed at once: 4 MiB of float32


def attention_rows(
    queries: torch.Tensor,
    key: torch.Tensor,
    first_keys: int,
    scaling: float | None = None,
    softcap: float | None = None,
    masks: Sequence[tuple[int, int, torch.Tensor]] = (),
) -> torch.Tensor:
    """Attention probabilities of T consecutive query rows: (B, H, T, K) float32.

    ``queries`` (B, H, T, D), ``key`` (B, H_kv, K, D), H a multiple of H_kv (GQA: head h reads
    KV head h // (H // H_kv)). Query t sees the first ``first_keys + t`` keys; the others get
    weight 0. ``masks``: (b, t, row) triples, the model's mask row of query t of batch entry b,
    (1 or H, first_keys + t): boolean (True = attend) or additive. Soft-capping
    ``tanh(s / cap) * cap`` comes before the mask, as eager Gemma 2.

    >>> from vrprobe.capture.attention import attention_row
    >>> q, k = torch.randn(1, 4, 2, 8), torch.randn(1, 2, 5, 8)
    >>> rows = attention_rows(q, k, first_keys=4)
    >>> bool(torch.allclose(rows[:, :, 0, :4], attention_row(q[:, :, :1], k[:, :, :4], None)))
    True
    >>> float(rows[0, :, 0, 4].abs().max()), rows.shape
    (0.0, torch.Size([1, 4, 2, 5]))
    """
    b, h, t, d = queries.shape
    h_kv, k_len = key.shape[1], key.shape[2]
    # (B*H_kv, G*T, K), scaled in the product: the heads of one KV head and all their steps
    # share its keys
    scores = torch.baddbmm(
        scalar_zero(queries),
        queries.reshape(b * h_kv, (h // h_kv) * t, d),
        key.reshape(b * h_kv, k_len, d).transpose(1, 2),
        beta=0,
        alpha=d**-0.5 if scaling is None else scaling,
    ).view(b, h, t, k_len)
    if softcap is not None:
        scores = torch.tanh(scores / softcap) * softcap
    if k_len > first_keys:  # the keys of later steps: query t sees first_keys + t of them
        later = _later_keys(t, k_len - first_keys, scores.device)
        scores[..., first_keys:].masked_fill_(later, float("-inf"))
    for i, step, row in masks:
        view = scores[i, :, step, : row.shape[-1]]
        if row.dtype == torch.bool:
            view.masked_fill_(~row, float("-inf"))
        else:
            view.add_(row)
    return torch.softmax(scores, dim=-1, dtype=torch.float32)


SMALL_PREFILL = 1 << 16  # prefill query / mask elements a kept view may hold alive (256 KiB)
_LATER: dict[tuple[int, int, torch.device], torch.Tensor] = {}
_ZEROS: dict[tuple[torch.dtype, torch.device], torch.Tensor] = {}


def _later_keys(t: int, n: int, device: torch.device) -> torch.Tensor:
    """(t, n) boolean: True where query t must not see key first_keys + j (j >= t); cached,
    the same few shapes recur (short answers flush once, long ones every FLUSH_STEPS)."""
    mask = _LATER.get((t, n, device))
    if mask is None:
        mask = torch.ones(t, n, dtype=torch.bool, device=device).triu_()
        if len(_LATER) < 256:
            _LATER[t, n, device] = mask
    return mask


def scalar_zero(like: torch.Tensor) -> torch.Tensor:
    """A 0-dim zero of ``like``'s dtype and device (``baddbmm``'s ignored input, made once)."""
    key = (like.dtype, like.device)
    zero = _ZEROS.get(key)
    if zero is None:
        zero = _ZEROS[key] = torch.zeros((), dtype=like.dtype, device=like.device)
    return zero


@dataclass
class QueuedRows:
    """One full-attention layer's queued steps: queries, mask rows, the latest keys."""

    scaling: float | None
    softcap: float | None
    first_row: int = 0
    first_keys: int = 0
    queries: list[torch.Tensor] = field(default_factory=list)  # (1, H, 1, D) per step
    masks: list[tuple[int, torch.Tensor]] = field(default_factory=list)  # (step, row)
    key: torch.Tensor | None = None  # the latest keys: every queued step's are a prefix

    def add(self, row: int, query: torch.Tensor, key: torch.Tensor, mask: object) -> None:
        """Queue step ``row``'s last query (of a long prefill: a copy, not a view keeping the
        whole prefill's queries alive until the flush)."""
        if not self.queries:
            self.first_row, self.first_keys = row, key.shape[2]
        if isinstance(mask, torch.Tensor):  # its last row, copied out of a large mask
            last_row = mask[0, :, -1, : key.shape[2]]
            last_row = last_row.clone() if mask.numel() > SMALL_PREFILL else last_row
            self.masks.append((len(self.queries), last_row))
        if query.shape[2] > 1:  # a prefill: its last query; a view of a small one is kept
            last = query[:, :, -1:]
            query = last.clone() if query.numel() > SMALL_PREFILL else last
        self.queries.append(query)
        self.key = key

    def group(self) -> tuple:
        """Layers with equal groups are computed stacked."""
        k = self.key
        return (self.scaling, self.softcap, self.first_row, len(self.queries), k.shape, k.dtype,
                k.device)  # type: ignore[union-attr]  # fmt: skip


def take_rows(
    layers: Sequence[tuple[int, QueuedRows]],
) -> Iterator[tuple[tuple[int, ...], int, torch.Tensor]]:
    """Compute and empty the queues of ``layers`` (all of one :meth:`QueuedRows.group`):
    yields (layer indices, first row, (layers, H, t, K) probabilities) chunks."""
    if not layers or not layers[0][1].queries:
        return
    q0 = layers[0][1]
    t, (_, h_kv, k_len, d) = len(q0.queries), q0.key.shape  # type: ignore[union-attr]
    h = q0.queries[0].shape[1]
    per_layer = max(h_kv * k_len * d, h * t * k_len)
    step = max(1, CHUNK_FLOATS // per_layer)
    for c in range(0, len(layers), step):
        chunk = layers[c : c + step]
        queries = torch.cat([q for _, item in chunk for q in item.queries])  # (l*t, H, 1, D)
        queries = queries.view(len(chunk), t, h, d).transpose(1, 2)
        keys = chunk[0][1].key if len(chunk) == 1 else torch.cat([i.key for _, i in chunk])
        masks = [(j, s, m) for j, (_, item) in enumerate(chunk) for s, m in item.masks]
        probs = attention_rows(queries, keys, q0.first_keys, q0.scaling, q0.softcap, masks)  # type: ignore[arg-type]
        yield tuple(layer for layer, _ in chunk), q0.first_row, probs
        for _, item in chunk:
            item.queries, item.masks, item.key = [], [], None
