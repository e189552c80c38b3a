"""Shared validation for signal functions: finite float arrays and key-position sets.

Kept private so every public signal fails the same way, with a message naming the argument,
instead of silently producing uniform maps or zero correlations from a broken capture.
"""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import ArrayLike


def as_float(x: ArrayLike, name: str, *, min_ndim: int = 1) -> np.ndarray:
    """Return `x` as a float64 array, raising ValueError if it is empty or non-finite.

    >>> as_float([1, 2], "row").dtype
    dtype('float64')
    """
    a = np.asarray(x, dtype=np.float64)
    if a.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimension(s), got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} is empty (shape {a.shape})")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or inf")
    return a


def positions(idx: ArrayLike, n: int, name: str, *, allow_empty: bool = False) -> np.ndarray:
    """Turn a boolean mask of length `n` or an index array into sorted unique int positions.

    Raises ValueError on out-of-range or duplicate indices, a mask of the wrong length, or an
    empty set unless `allow_empty`.

    >>> positions([False, True, True], 3, "image_idx").tolist()
    [1, 2]
    >>> positions([2, 0], 3, "image_idx").tolist()
    [0, 2]
    """
    a = np.asarray(idx)
    if a.dtype == bool:
        if a.shape != (n,):
            raise ValueError(f"{name}: boolean mask has shape {a.shape}, expected ({n},)")
        out = np.flatnonzero(a)
    else:
        if a.size and not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"{name} must be integer positions or a boolean mask, got {a.dtype}")
        out = a.astype(np.int64).ravel()
        if out.size and (out.min() < 0 or out.max() >= n):
            lo, hi = out.min(), out.max()
            raise ValueError(f"{name}: positions must lie in [0, {n}), got {lo}..{hi}")
        uniq = np.unique(out)
        if uniq.size != out.size:
            raise ValueError(f"{name} contains duplicate positions")
        out = uniq
    if out.size == 0 and not allow_empty:
        raise ValueError(f"{name} selects no position")
    return out


def scalar_or_array(x: np.ndarray) -> float | np.ndarray:
    """Return a Python float for 0-d results, the array otherwise.

    >>> scalar_or_array(np.array(2.0))
    2.0
    """
    return float(x) if np.ndim(x) == 0 else x


def nanmean(a: ArrayLike, axis: int | None = None) -> np.ndarray | float:
    """``np.nanmean`` whose all-NaN slices are NaN without a RuntimeWarning (an undefined value
    is a documented outcome here, e.g. evidence overlap where the image gets no attention).

    >>> float(nanmean([np.nan, np.nan])), nanmean([[1.0, np.nan], [3.0, np.nan]], axis=0).tolist()
    (nan, [2.0, nan])
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.asarray(a, dtype=np.float64), axis=axis)
