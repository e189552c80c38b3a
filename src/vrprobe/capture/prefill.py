"""One prompt prefill shared by the greedy answer and the K sampled answers (DESIGN decision 2).

Why: for a VLM the prompt (hundreds of image tokens plus the vision tower) dominates the cost of
a short answer. Running it once into a KV cache and copying that cache into a batch makes K
samples cost about one prefill plus K cheap decodes instead of K full generations.

The prefill covers the prompt *minus its last token*. `generate` is then called with the full
prompt ids and the cache: it feeds only the uncached last token, whose logits start the answer,
so sampling, stopping and logits processors all stay stock `generate` behaviour.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Mapping
from typing import Any

import torch
from transformers import DynamicCache, GenerationMixin

#: The keyword that hands a KV cache to ``generate`` and to model forwards: transformers 5.24
#: renamed ``past_key_values`` to ``cache`` (the old name warns, and is removed from forwards in
#: 5.40); read from the installed version's signature, so every 5.x release gets its own name.
CACHE_KWARG = (
    "cache"
    if "cache" in inspect.signature(GenerationMixin.prepare_inputs_for_generation).parameters
    else "past_key_values"
)

#: Inputs aligned with the token sequence (batch, seq): sliced with the ids for the prefill and
#: repeated with them for a batched continuation.
SEQUENCE_KEYS = (
    "input_ids",
    "attention_mask",
    "token_type_ids",
    "mm_token_type_ids",
    "moe_mm_token_type_ids",
)


def mrope_module(model: torch.nn.Module) -> torch.nn.Module | None:
    """The module that keeps M-RoPE position state (`rope_deltas`) outside the KV cache, or None.

    Why: the shared prefill relies on a continuation's positions being derivable from the
    attention mask. That holds for plain 1-D RoPE (LLaVA/Llama); M-RoPE families (Qwen2/2.5/3-VL,
    GLM-4V, ...) give image tokens 3-D (t, h, w) positions, so every later text position is
    shifted by `rope_deltas`, which the model computes from the image grid during a forward
    *with* the image and keeps on itself. `prefill` stores those deltas on the cache it returns
    and `use_cache_positions` puts them back before a continuation (FAMILIES.md, "Sampling").
    """
    for module in (model, getattr(model, "model", None)):
        if module is not None and hasattr(module, "rope_deltas"):
            return module
    return None


def use_cache_positions(model: torch.nn.Module, cache: Any) -> None:
    """Before continuing from `cache`: restore the M-RoPE deltas its prefill computed (a no-op
    for 1-D RoPE models and for caches that did not come from `prefill`)."""
    module = mrope_module(model)
    deltas = getattr(cache, "rope_deltas", None)
    if module is not None and deltas is not None:
        module.rope_deltas = deltas


def mask_positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position ids from a 2-D attention mask, exactly as `generate` derives them.

    >>> mask_positions(torch.tensor([[0, 1, 1, 1], [1, 1, 1, 1]])).tolist()
    [[0, 0, 1, 2], [0, 1, 2, 3]]
    """
    positions = attention_mask.long().cumsum(-1) - 1
    return positions.masked_fill(attention_mask == 0, 0)


@torch.no_grad()
def prefill(
    model: torch.nn.Module,
    inputs: Mapping[str, Any],
    *,
    bidirectional_prompt: bool = False,
    position_offset: int = 0,
) -> DynamicCache:
    """Run the prompt minus its last token (with the image inputs) once into a `DynamicCache`.

    `inputs` is the processor output (`input_ids`, `attention_mask`, `pixel_values`, ...). The
    returned cache holds `seq_len - 1` positions; pass it (via `repeat_cache`) to `generate`
    together with the *full* prompt ids and no pixel inputs.

    `bidirectional_prompt` (PaliGemma: the whole prompt is one bidirectional prefix): earlier
    prompt tokens attend to the last one, so the cache is computed from the *full* prompt and
    its last position dropped; `generate` recomputes that position exactly (it is the prefix's
    last token, which sees every key either way). `position_offset` is added to the position
    ids derived from the mask, as the family's `generate` does (PaliGemma counts from 1).
    """
    input_ids = inputs["input_ids"]
    if input_ids.shape[1] < 2:
        raise ValueError("the prompt needs at least 2 tokens to share a prefill")
    image_token_id = getattr(model.config, "image_token_id", None)
    if image_token_id is not None and bool((input_ids[:, -1] == image_token_id).any()):
        raise ValueError("the prompt's last token is an image token; it must be text")
    mask = inputs.get("attention_mask")
    if mask is None:
        mask = torch.ones_like(input_ids)
    end = None if bidirectional_prompt else -1
    kwargs = {k: v for k, v in inputs.items() if k not in SEQUENCE_KEYS and v is not None}
    for key in SEQUENCE_KEYS:
        if inputs.get(key) is not None:
            kwargs[key] = inputs[key][:, :end]
    kwargs["attention_mask"] = mask[:, :end]
    mrope = mrope_module(model)
    if mrope is None:
        kwargs["position_ids"] = (mask_positions(mask) + position_offset)[:, :end]
    # else: the model derives 3-D positions (and rope_deltas) from the image grid itself
    cache = DynamicCache(config=model.config)
    if bidirectional_prompt:  # sliding-window layers must keep the keys the crop gives back
        _check_prefix_fits_window(model, input_ids.shape[1])
        cache.activate_past_recording()
    model(**kwargs, **{CACHE_KWARG: cache}, use_cache=True, logits_to_keep=1)
    if mrope is not None:
        if mrope.rope_deltas is None:
            raise ValueError(
                f"{type(model).__name__}: the prefill computed no rope_deltas (inputs lack "
                "image_grid_thw / mm_token_type_ids?)"
            )
        cache.rope_deltas = mrope.rope_deltas.clone()  # type: ignore[attr-defined]
    if bidirectional_prompt:
        cache.crop(-1)
        for layer in cache.layers:  # back to plain windowed caching for generation
            if getattr(layer, "record_past", False):
                layer.record_past = False
    return cache


def _check_prefix_fits_window(model: torch.nn.Module, prompt_len: int) -> None:
    """A bidirectional prefix longer than a sliding window is seen whole by its last token in
    the prefill (transformers lets the prefix block override the window), but only through the
    window by any continuation: a shared prefill could not reproduce the first answer token."""
    text = model.config.get_text_config()
    window = getattr(text, "sliding_window", None)
    sliding = "sliding_attention" in (getattr(text, "layer_types", None) or [])
    if window and sliding and prompt_len > window:
        raise ValueError(
            f"the bidirectional prompt ({prompt_len} tokens) is longer than the sliding window "
            f"({window}): a shared prefill cannot reproduce its last token; run without "
            "--samples (released PaliGemma 2 checkpoints have a 4,096-token window)"
        )


def repeat_cache(cache: DynamicCache, n: int) -> DynamicCache:
    """A deep copy of `cache` with every batch row repeated `n` times (row-interleaved).

    The original is left untouched (generation grows and may edit the cache it is given), so one
    prefill can seed several continuations: the greedy answer, the K samples, a capture run.
    M-RoPE deltas stored by `prefill` are repeated with the rows.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    copied = copy.deepcopy(cache)
    if n > 1:
        copied.batch_repeat_interleave(n)
        deltas = getattr(copied, "rope_deltas", None)
        if deltas is not None:  # M-RoPE position state travels with the cache rows
            copied.rope_deltas = deltas.repeat_interleave(n, dim=0)  # type: ignore[attr-defined]
    return copied
