"""The reasoning axis (SPEC §2): per-token signals over a generated chain of thought.

Evidence mass is tracked token by token while a reasoning model thinks; these helpers put it on
a comparable axis (steps, or relative-position bins), measure its collapse from the start to the
end of reasoning, and find which tokens are reasoning at all (not think-tags, not the answer).
On this axis NaN values (e.g. evidence overlap where VAM is 0) are ignored by the means.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from vrprobe.signals._arrays import nanmean
from vrprobe.signals.segment import Segmentation, segment_steps

__all__ = [
    "Segmentation",
    "collapse_ratio",
    "normalized_auc",
    "per_step_mean",
    "relative_bins",
    "segment_steps",
]


def _curve(x: ArrayLike, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {a.shape}")
    if np.isinf(a).any():
        raise ValueError(f"{name} contains inf")
    return a


def collapse_ratio(em_per_token: ArrayLike, *, head: float = 0.2, tail: float = 0.2) -> float:
    """Evidence collapse `1 - mean(EM over last 20% of tokens) / mean(EM over first 20%)`.

    0 = no change, 1 = evidence attention vanished, negative = it grew. Window sizes are
    `ceil(fraction·n)`, at least one token (so one token gives 0). NaN if the first window's
    mean is 0 or NaN. ValueError on an empty curve.

    >>> collapse_ratio([1.0] * 5 + [0.5] * 5)
    0.5
    """
    em = _curve(em_per_token, "em_per_token")
    n = em.size
    first = float(nanmean(em[: max(1, math.ceil(round(head * n, 9)))]))
    last = float(nanmean(em[-max(1, math.ceil(round(tail * n, 9))) :]))
    if not first > 0:
        return math.nan
    return 1.0 - last / first


def normalized_auc(curve: ArrayLike) -> float:
    """Area under a curve whose x axis is rescaled to [0, 1] (trapezoid rule).

    Comparable across sequences of different lengths; equals the mean for a constant curve.
    A single point gives its value. NaN if the curve has a NaN.

    >>> normalized_auc([1.0, 0.0])
    0.5
    """
    y = _curve(curve, "curve")
    if y.size == 1:
        return float(y[0])
    return float(np.trapezoid(y, np.linspace(0.0, 1.0, y.size)))


def relative_bins(values: ArrayLike, n_bins: int = 10) -> np.ndarray:
    """Mean of per-token values in `n_bins` equal bins of relative position.

    Token `i` of `n` falls in bin `floor(i·n_bins/n)`. With fewer tokens than bins some bins
    are empty and hold NaN (as do bins of NaN values only). ValueError on empty input.

    >>> relative_bins([1.0, 2.0, 3.0, 4.0], n_bins=2).tolist()
    [1.5, 3.5]
    >>> relative_bins([1.0, 2.0], n_bins=4).tolist()
    [1.0, nan, 2.0, nan]
    """
    v = _curve(values, "values")
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    bins = np.arange(v.size) * n_bins // v.size
    return per_step_mean(v, bins, n_steps=n_bins)


def per_step_mean(
    values: ArrayLike, step_ids: ArrayLike, *, n_steps: int | None = None
) -> np.ndarray:
    """Mean of per-token `values` for each step; tokens with `step_id < 0` are left out.

    `values` is `(tokens,)` or `(tokens, ...)` (e.g. tokens × layers); the result is
    `(n_steps, ...)` with `n_steps` defaulting to `max(step_ids) + 1`. Steps without tokens
    (or with only NaN values) hold NaN.

    >>> per_step_mean([1.0, 3.0, 5.0, 9.0], [0, 0, 1, -1]).tolist()
    [2.0, 5.0]
    """
    v = np.asarray(values, dtype=np.float64)
    ids = np.asarray(step_ids)
    if v.ndim == 0 or ids.shape != v.shape[:1]:
        raise ValueError(f"need one step id per token, got {ids.shape} for values {v.shape}")
    if ids.size and not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"step_ids must be integers, got {ids.dtype}")
    if n_steps is None:
        n_steps = int(ids.max()) + 1 if ids.size else 0
    out = np.full((n_steps, *v.shape[1:]), np.nan)
    for s in range(n_steps):
        sel = ids == s
        if sel.any():
            out[s] = nanmean(v[sel], axis=0)
    return out
