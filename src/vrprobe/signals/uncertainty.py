"""Text-side uncertainty of one reply from per-token entropies and chosen log-probabilities.

Token entropies come from the full-vocabulary logits at generation time (capture/logits.py),
never re-derived from a top-k list. The answer span is located in the decoded text: the part
after a think block, the content of `\\boxed{}`, what follows "Answer:", or the whole reply
when it is short (SPEC §2, "Entropies").

A healthy capture gives finite per-token values (entropy in [0, ln V], log-probability < 0 and
finite, since a sampled token never has probability exactly 0); a NaN or ±inf token value means
a broken forward, so every summary that reads it is NaN (no RuntimeWarning), never ±inf or a
number, and the analysis leaves that reply out of the signal.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from vrprobe.signals.segment import segment_steps

THINK_END = "</think>"


def _token_values(values: ArrayLike, name: str) -> np.ndarray:
    """Per-token values as flat float64; empty is an error (non-finite ones make NaN later)."""
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.size == 0:
        raise ValueError(f"{name} is empty: the reply has no generated tokens")
    return arr


def _reduce(values: np.ndarray, how) -> float:
    """``how(values)`` as a float, NaN if any value is NaN or ±inf (see module doc)."""
    return float(how(values)) if np.isfinite(values).all() else float("nan")


def _mean(values: np.ndarray) -> float:
    """The mean (as ``np.mean``: the same pairwise sum over the count), NaN if any value is NaN
    or ±inf; without ``np.mean``'s Python wrapper (the live monitor reads it on every check)."""
    return float(values.sum()) / values.size if np.isfinite(values).all() else float("nan")


def full_response_entropy(step_entropy: ArrayLike) -> float:
    """Mean token entropy (nats) over every generated token.

    >>> full_response_entropy([0.0, 1.0, 2.0])
    1.0
    """
    return _mean(_token_values(step_entropy, "step_entropy"))


def answer_span_entropy(step_entropy: ArrayLike, answer_mask: ArrayLike) -> float:
    """Mean token entropy over the answer's tokens only; NaN when no token is in the answer.

    >>> answer_span_entropy([3.0, 3.0, 0.5], [False, False, True])
    0.5
    """
    ent = _token_values(step_entropy, "step_entropy")
    mask = np.asarray(answer_mask, dtype=bool).reshape(-1)
    if mask.shape != ent.shape:
        raise ValueError(f"answer_mask has {mask.size} entries for {ent.size} tokens")
    return _mean(ent[mask]) if mask.any() else float("nan")


def mean_logprob(step_logprob: ArrayLike) -> float:
    """Mean log-probability of the chosen tokens (not of the most likely ones).

    >>> round(mean_logprob(np.log([0.5, 0.25])), 4)
    -1.0397
    """
    return _mean(_token_values(step_logprob, "step_logprob"))


def perplexity(step_logprob: ArrayLike) -> float:
    """exp(−mean chosen log-probability).

    >>> perplexity(np.log([0.5, 0.5]))
    2.0
    """
    return float(np.exp(-mean_logprob(step_logprob)))


def max_entropy(step_entropy: ArrayLike) -> float:
    """The largest token entropy in the reply (its most uncertain step).

    >>> max_entropy([0.1, 2.5, 0.3])
    2.5
    """
    return _reduce(_token_values(step_entropy, "step_entropy"), np.max)


def answer_span_mask(text: str, token_offsets: ArrayLike, *, short_words: int = 6) -> np.ndarray:
    """Which generated tokens belong to the final answer.

    After a `</think>` block the answer is what follows it (narrowed to `\\boxed{}` or
    "Answer:" content when present); a reply of at most `short_words` words with no marker is
    all answer; otherwise the answer is located by `segment_steps` (boxed, "Answer:", last
    sentence). `token_offsets` are `[start, end)` character ranges into `text`.

    >>> answer_span_mask("Red.", [(0, 3), (3, 4)]).tolist()
    [True, True]
    >>> text = "The sign is red. Answer: red"
    >>> answer_span_mask(text, [(0, 16), (16, 24), (24, 28)]).tolist()
    [False, False, True]
    """
    offs = np.asarray(token_offsets, dtype=np.int64).reshape(-1, 2)
    start = text.rfind(THINK_END)
    start = 0 if start < 0 else start + len(THINK_END)
    tail = text[start:]
    seg = segment_steps(tail, np.clip(offs - start, 0, len(tail)))
    marked = "\\boxed" in tail or "answer" in tail.lower()
    if not marked and (start > 0 or len(tail.split()) <= short_words):
        span = (start + len(tail) - len(tail.lstrip()), start + len(tail.rstrip()))
        return (offs[:, 0] < span[1]) & (offs[:, 1] > span[0]) & (offs[:, 1] > offs[:, 0])
    return seg.answer_mask & (offs[:, 1] > start)
