"""Grounding signals from what the capture engine keeps: image columns and section sums.

The capture engine never stores a full attention row; it keeps the image-token columns and
the summed share of each prompt section. Because a softmax row sums to 1, these reductions give
the SPEC's quantities exactly: evidence mass is a sum of image columns, RAPT of a section is
its mean share over the prompt's mean share.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def column_mass(image_attention: ArrayLike, idx: ArrayLike) -> np.ndarray:
    """Attention mass on a subset of image tokens (e.g. evidence cells), per leading index.

    >>> column_mass([[0.1, 0.2, 0.3]], [0, 2]).round(3).tolist()
    [0.4]
    """
    a = np.asarray(image_attention, dtype=np.float64)
    return a[..., np.asarray(idx, dtype=np.int64)].sum(axis=-1)


def safe_ratio(num: ArrayLike, den: ArrayLike) -> np.ndarray:
    """num / den with NaN where den is 0 (e.g. evidence overlap with no visual mass).

    Also NaN (without a RuntimeWarning) where either side is NaN or ±inf: a broken share
    never becomes a finite ratio such as x / inf = 0.

    >>> safe_ratio([1.0, 1.0, 1.0], [2.0, 0.0, np.inf]).tolist()
    [0.5, nan, nan]
    """
    n, d = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(n, d).shape, np.nan)
    np.divide(n, d, out=out, where=(d != 0) & np.isfinite(d) & np.isfinite(n))
    return out


def rapt_from_share(
    section_share: ArrayLike, section_size: int, prompt_share: ArrayLike, prompt_size: int
) -> np.ndarray:
    """RAPT = mean attention per token of a section / mean per token of the whole prompt.

    A section holding 10% of the tokens and 10% of the attention has RAPT 1.

    >>> float(rapt_from_share(0.1, 10, 1.0, 100))
    1.0
    >>> float(rapt_from_share(0.5, 10, 1.0, 100))
    5.0
    """
    if section_size < 1 or prompt_size < 1:
        raise ValueError(f"section and prompt need tokens, got {section_size}, {prompt_size}")
    return safe_ratio(
        np.asarray(section_share) / section_size, np.asarray(prompt_share) / prompt_size
    )


def sink_robust_mass(vam: ArrayLike, image_attention: ArrayLike, sinks: ArrayLike) -> np.ndarray:
    """Visual attention mass with sink tokens dropped and the row renormalised.

    With sink mass s: (VAM − s) / (1 − s), the share of the non-sink keys that goes to
    non-sink image tokens.

    >>> round(float(sink_robust_mass(0.6, [0.4, 0.1, 0.1], [0])), 4)
    0.3333
    """
    sink = column_mass(image_attention, sinks) if len(np.atleast_1d(sinks)) else 0.0
    return safe_ratio(np.asarray(vam, dtype=np.float64) - sink, 1.0 - np.asarray(sink))


def grid_maps(image_attention: ArrayLike, cells: ArrayLike, grid: tuple[int, int]) -> np.ndarray:
    """Scatter image-token columns onto a (rows, cols) grid (tokens without a cell dropped).

    `cells` is (n, 2) of (row, col) per image token, -1 for tokens that are no grid cell.

    >>> grid_maps([[1.0, 2.0, 3.0, 4.0]], [[0, 0], [0, 1], [1, 0], [1, 1]], (2, 2)).tolist()
    [[[1.0, 2.0], [3.0, 4.0]]]
    """
    a = np.asarray(image_attention, dtype=np.float64)
    rc = np.asarray(cells, dtype=np.int64).reshape(-1, 2)
    on = (rc[:, 0] >= 0) & (rc[:, 1] >= 0)
    out = np.zeros((*a.shape[:-1], *grid))
    out[..., rc[on, 0], rc[on, 1]] = a[..., on]
    return out
