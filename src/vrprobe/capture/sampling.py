"""Greedy and K sampled answers continued from one shared prompt prefill (SPEC 1, DESIGN 2).

Why: self-consistency needs K sampled answers per item (default K 10, temperature 0.7, top-p
0.9); with the prompt computed once (`prefill.prefill`) and copied into a batch they cost about
one greedy run instead of K. Generation itself is stock `model.generate`, so stopping criteria,
logits processors and returned scores behave exactly as without the shared prefill.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch
from transformers import DynamicCache

from vrprobe.capture.prefill import CACHE_KWARG, SEQUENCE_KEYS, repeat_cache, use_cache_positions


def eos_ids(model: torch.nn.Module) -> list[int]:
    """The end-of-sequence ids of the model's generation config (an int or a list there)."""
    eos = model.generation_config.eos_token_id
    if eos is None:
        return []
    return [int(eos)] if isinstance(eos, int) else [int(e) for e in eos]


def trim_at_eos(tokens: Iterable[int], eos: Iterable[int]) -> np.ndarray:
    """Cut a generated row at its first EOS (the EOS and everything after it are dropped).

    `generate` writes pad tokens only after a row's EOS, so this removes padding too; a pad id
    sampled mid-answer by the model itself is kept.

    >>> trim_at_eos([5, 6, 2, 0, 0], eos=[2]).tolist()
    [5, 6]
    >>> trim_at_eos([5, 6], eos=[2]).tolist()
    [5, 6]
    """
    row = np.asarray(list(tokens), dtype=np.int64)
    hits = np.flatnonzero(np.isin(row, list(eos)))
    return row[: hits[0]] if hits.size else row


@torch.no_grad()
def generate_from_cache(
    model: torch.nn.Module,
    inputs: Mapping[str, Any],
    cache: DynamicCache,
    n: int = 1,
    **generate_kwargs: Any,
) -> Any:
    """`model.generate` for `n` copies of each prompt row, continuing from a shared prefill.

    `cache` comes from `prefill(model, inputs)` and is not modified (a repeated copy is used).
    Pixel inputs are not passed: the image is already in the cache. Returns what `generate`
    returns (a tensor, or a `GenerateOutput` with `return_dict_in_generate=True`); rows are
    prompt-major (prompt b's copies are rows `b*n .. b*n + n - 1`).
    """
    input_ids = inputs["input_ids"]
    if cache.get_seq_length() != input_ids.shape[1] - 1:
        raise ValueError(
            f"cache holds {cache.get_seq_length()} positions; expected prompt length - 1 = "
            f"{input_ids.shape[1] - 1} (build it with prefill(model, inputs))"
        )
    mask = inputs.get("attention_mask")
    if mask is None:
        mask = torch.ones_like(input_ids)
    seq = {k: inputs[k] for k in SEQUENCE_KEYS if inputs.get(k) is not None}
    seq["attention_mask"] = mask
    repeated = {k: v.repeat_interleave(n, dim=0) for k, v in seq.items()}
    copied = repeat_cache(cache, n)
    use_cache_positions(model, copied)
    return model.generate(**repeated, **{CACHE_KWARG: copied}, use_cache=True, **generate_kwargs)


def _new_tokens(model: torch.nn.Module, out: Any, prompt_len: int) -> list[np.ndarray]:
    sequences = out.sequences if hasattr(out, "sequences") else out
    eos = eos_ids(model)
    return [trim_at_eos(row.tolist(), eos) for row in sequences[:, prompt_len:].cpu()]


def _single_prompt(inputs: Mapping[str, Any]) -> int:
    input_ids = inputs["input_ids"]
    if input_ids.shape[0] != 1:
        raise ValueError(f"expected one prompt (batch 1), got batch {input_ids.shape[0]}")
    return int(input_ids.shape[1])


def greedy_from_cache(
    model: torch.nn.Module,
    inputs: Mapping[str, Any],
    cache: DynamicCache,
    *,
    max_new_tokens: int = 32,
    **generate_kwargs: Any,
) -> np.ndarray:
    """The greedy answer's new token ids (EOS/pad trimmed), continuing from the shared prefill.

    Equals the new tokens of `model.generate(**inputs, do_sample=False)`; the cache stays
    usable for the samples.
    """
    prompt_len = _single_prompt(inputs)
    out = generate_from_cache(
        model, inputs, cache, 1, do_sample=False, max_new_tokens=max_new_tokens, **generate_kwargs
    )
    return _new_tokens(model, out, prompt_len)[0]


def sample_continuations(
    model: torch.nn.Module,
    inputs: Mapping[str, Any],
    cache: DynamicCache,
    *,
    k: int = 10,
    temperature: float = 0.7,
    top_p: float = 0.9,
    top_k: int = 0,
    max_new_tokens: int = 32,
    seed: int = 0,
    **generate_kwargs: Any,
) -> list[np.ndarray]:
    """K sampled answers (new token ids, EOS/pad trimmed) from one shared prefill, in one batch.

    Defaults follow SPEC 1 (K 10, temperature 0.7, top-p 0.9). `top_k=0` disables top-k,
    which transformers otherwise applies with k=50 when unset. Seeded: the same seed gives the
    same samples, and the same tokens as `torch.manual_seed(seed)` followed by one
    `model.generate` on the prompt repeated K times with pixel inputs (same batch layout). The
    global RNG state is restored afterwards.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    prompt_len = _single_prompt(inputs)
    device = getattr(model, "device", torch.device("cpu"))
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        out = generate_from_cache(
            model,
            inputs,
            cache,
            k,
            do_sample=True,
            temperature=temperature,
            top_p=top_p,
            top_k=top_k,
            max_new_tokens=max_new_tokens,
            **generate_kwargs,
        )
    return _new_tokens(model, out, prompt_len)
