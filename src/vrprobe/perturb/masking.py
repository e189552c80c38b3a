"""Top-attended patch masking (SPEC §1, "attention masking"), three mechanisms.

The ranking: image tokens ordered by the clean pass's attention (heads, layers and generated
steps averaged), the top ``fraction`` (default 30%, ``ceil``) removed; ties go to the earlier
token. Mechanisms:

- ``pixels``: the removed tokens' patches are painted over in the image with the fill colour
  (the processor's mean: zero model input) before the processor sees it;
- ``embed``: the removed tokens' input embeddings to the language model are zeroed;
- ``keys``: no query may attend to the removed positions (each keeps its own diagonal so no
  row is empty), in every decoder layer and generation step.

``zero_embeddings`` and ``block_keys`` are context managers that only add hooks and remove
them on exit (also after an exception): weights and buffers are never written.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw

from vrprobe.models.layout import ImageLayout
from vrprobe.models.roles import decoder_attention
from vrprobe.perturb.registry import MASK_FRACTION


def top_tokens(scores: np.ndarray, fraction: float = MASK_FRACTION) -> np.ndarray:
    """Indices (ascending) of the ``ceil(fraction · n)`` highest scores; ties → earlier index.

    >>> top_tokens(np.array([0.1, 0.4, 0.4, 0.05, 0.3]), 0.5).tolist()
    [1, 2, 4]
    """
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction}")
    k = min(scores.size, math.ceil(fraction * scores.size - 1e-9))
    order = np.argsort(-scores, kind="stable")
    return np.sort(order[:k])


def token_boxes(layout: ImageLayout, tokens: np.ndarray) -> list[tuple[float, ...]]:
    """Original-image pixel boxes (x0, y0, x1, y1) of image tokens that are grid cells.

    The inverse of ``Tile``'s original → canvas mapping; a token off every grid (a newline
    slot) has no box and is skipped.
    """
    boxes = []
    for i in np.asarray(tokens, dtype=np.int64):
        t, r, c = (int(v) for v in layout.cells[i])
        if r < 0 or c < 0:
            continue
        tile = layout.tiles[t]
        (sx, sy), (ox, oy), (h, w) = tile.scale_xy, tile.offset_xy, tile.size_hw
        xc0, xc1 = c * w / tile.cols, (c + 1) * w / tile.cols
        yc0, yc1 = r * h / tile.rows, (r + 1) * h / tile.rows
        boxes.append(((xc0 - ox) / sx, (yc0 - oy) / sy, (xc1 - ox) / sx, (yc1 - oy) / sy))
    return boxes


def mask_pixels(
    image: Image.Image, boxes: list[tuple[float, ...]], fill: tuple[int, int, int]
) -> Image.Image:
    """A copy of ``image`` with every pixel whose centre lies in a box set to ``fill``.

    >>> img = mask_pixels(Image.new("RGB", (4, 2), (9, 9, 9)), [(0, 0, 2, 1)], (0, 0, 0))
    >>> [img.getpixel((x, y)) for x, y in ((0, 0), (1, 0), (2, 0), (0, 1))]
    [(0, 0, 0), (0, 0, 0), (9, 9, 9), (9, 9, 9)]
    """
    out = image.convert("RGB").copy()
    draw = ImageDraw.Draw(out)
    w, h = out.size
    for x0, y0, x1, y1 in boxes:
        a, b = max(0, math.ceil(x0 - 0.5)), min(w, math.ceil(x1 - 0.5))
        c, d = max(0, math.ceil(y0 - 0.5)), min(h, math.ceil(y1 - 0.5))
        if b > a and d > c:
            draw.rectangle((a, c, b - 1, d - 1), fill=fill)
    return out


@contextmanager
def zero_embeddings(model: Any, positions: np.ndarray) -> Iterator[None]:
    """Zero the language model's input embeddings at ``positions`` (sequence indices) in every
    forward whose input covers them (the prompt's prefill); decode steps are untouched."""
    lm = model.get_decoder()
    decoder_attention(lm)  # the layout the hooks expect, or NotImplementedError now
    pos = torch.as_tensor(np.asarray(positions, dtype=np.int64))
    top = int(pos.max()) if pos.numel() else -1

    def hook(module: Any, args: tuple, kwargs: dict) -> tuple[tuple, dict] | None:
        embeds = kwargs.get("inputs_embeds")
        if embeds is None:
            raise NotImplementedError(
                f"{type(module).__name__} was called without inputs_embeds: cannot zero image "
                "embeddings for this family"
            )
        if top < 0 or embeds.shape[1] <= top:
            return None
        embeds = embeds.clone()
        embeds[:, pos.to(embeds.device)] = 0
        return args, {**kwargs, "inputs_embeds": embeds}

    handle = lm.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        yield
    finally:
        handle.remove()


def blocked_mask(
    mask: torch.Tensor | None, q_len: int, k_len: int, positions: torch.Tensor
) -> torch.Tensor:
    """``mask`` (boolean True = attend, additive float, or None = causal) with ``positions``
    blocked as keys for every query except the query at that same position.

    >>> m = blocked_mask(None, 3, 3, torch.tensor([1]))
    >>> m[0, 0].int().tolist()
    [[1, 0, 0], [1, 1, 0], [1, 0, 1]]
    """
    q_abs = torch.arange(k_len - q_len, k_len, device=positions.device)[:, None]
    keys = torch.arange(k_len, device=positions.device)[None, :]
    blocked = torch.isin(keys, positions) & (keys != q_abs)  # (Q, K)
    if mask is None:
        return ((keys <= q_abs) & ~blocked)[None, None]
    if mask.shape[-1] != k_len:
        raise NotImplementedError(
            f"attention mask over {mask.shape[-1]} keys, expected {k_len} (a windowed cache?): "
            "key blocking needs masks over absolute positions"
        )
    blocked = blocked[-mask.shape[-2] :].to(mask.device)
    if mask.dtype == torch.bool:
        return mask & ~blocked
    return mask.masked_fill(blocked, torch.finfo(mask.dtype).min)


@contextmanager
def block_keys(model: Any, positions: np.ndarray) -> Iterator[None]:
    """Block attention to ``positions`` in every decoder self-attention (see module)."""
    _, attns = decoder_attention(model.get_decoder())
    pos = torch.as_tensor(np.asarray(positions, dtype=np.int64))

    def hook(module: Any, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        hidden = kwargs.get("hidden_states", args[0] if args else None)
        if hidden is None:
            raise NotImplementedError(f"{type(module).__name__}: no hidden_states argument")
        cache = kwargs.get("cache", kwargs.get("past_key_values"))
        layer = getattr(module, "layer_idx", 0)
        past = int(cache.get_seq_length(layer)) if cache is not None else 0
        q_len = hidden.shape[1]
        mask = blocked_mask(
            kwargs.get("attention_mask"), q_len, past + q_len, pos.to(hidden.device)
        )
        return args, {**kwargs, "attention_mask": mask}

    with ExitStack() as stack:
        for attn in attns:
            stack.callback(attn.register_forward_pre_hook(hook, with_kwargs=True).remove)
        yield
