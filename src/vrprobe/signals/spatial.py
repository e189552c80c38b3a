"""Structural attention signals on image-token maps (SPEC §1): entropy, clusters, evolution.

A *map* is attention over the image tokens laid out on the model's grid, `(rows, cols)`;
stacks carry leading axes, e.g. `(layers, rows, cols)`. These are the signals the VRP study
found uninformative about correctness, so they must be exact enough to trust that null result.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from vrprobe.signals._arrays import as_float, scalar_or_array

ENTROPY_EPS = 1e-9


def normalize_map(m: ArrayLike) -> np.ndarray:
    """L1-normalise each map over its cells (last two axes) so it sums to 1.

    Raises ValueError on a non-finite, negative or all-zero map: an all-zero map means the
    capture returned nothing, and silently making it uniform is the reference-code pitfall.

    >>> normalize_map([[1, 3], [0, 0]]).tolist()
    [[0.25, 0.75], [0.0, 0.0]]
    """
    a = as_float(m, "map", min_ndim=2)
    if np.any(a < 0):
        raise ValueError("map has negative values; attention must be non-negative")
    total = a.sum(axis=(-2, -1), keepdims=True)
    if np.any(total <= 0):
        raise ValueError("map is all zeros (empty attention capture?); cannot normalise")
    return a / total


def spatial_entropy(m: ArrayLike) -> float | np.ndarray:
    """Spatial entropy `H_s = -Σ M ln(M + 1e-9)` in nats of the L1-normalised map.

    Uniform over N cells gives ln N, one-hot gives ~0. A stack `(..., rows, cols)` gives one
    value per map.

    >>> round(spatial_entropy(np.ones((4, 4))), 6) == round(math.log(16), 6)
    True
    >>> abs(spatial_entropy([[0, 1], [0, 0]])) < 1e-6
    True
    """
    p = normalize_map(m)
    return scalar_or_array(-(p * np.log(p + ENTROPY_EPS)).sum(axis=(-2, -1)))


def select_cells(
    m: ArrayLike,
    *,
    threshold: Literal["rank", "percentile"] = "rank",
    quantile: float = 0.9,
) -> np.ndarray:
    """Boolean mask of the map's "hot" cells, the input to `cluster_count`.

    - "percentile" (reference behaviour): cells `>= np.percentile(M, 100*quantile)`. On a
      mostly-zero map that percentile is 0 and every cell qualifies.
    - "rank" (default): the strict top `k = ceil((1-quantile)·N)` cells by value; cells tied
      with the (k+1)-th largest value are all left out, so ties never fill the quota and zero
      cells are never selected. Without ties both rules select the same k cells; a plateau
      of equal values straddling the quota is left out whole (no positional tie-breaking).

    >>> mostly_zero = np.zeros((4, 5)); mostly_zero[0, 0] = 1
    >>> int(select_cells(mostly_zero, threshold="percentile").sum())
    20
    >>> int(select_cells(mostly_zero).sum())
    1
    """
    a = normalize_map(m)
    if a.ndim != 2:
        raise ValueError(f"select_cells takes one (rows, cols) map, got shape {a.shape}")
    if not 0 < quantile < 1:
        raise ValueError(f"quantile must lie in (0, 1), got {quantile}")
    if threshold == "percentile":
        return a >= np.percentile(a, 100 * quantile)
    if threshold != "rank":
        raise ValueError(f"threshold must be 'rank' or 'percentile', got {threshold!r}")
    flat = a.ravel()
    k = math.ceil(round((1 - quantile) * flat.size, 9))
    if k >= flat.size:
        return a > 0
    cutoff = np.sort(flat)[::-1][k]  # the (k+1)-th largest value
    return a > cutoff


def cluster_count(
    m: ArrayLike,
    *,
    eps: float = 1.5,
    min_samples: int = 3,
    threshold: Literal["rank", "percentile"] = "rank",
    quantile: float = 0.9,
) -> int:
    """Number of DBSCAN clusters `C_k` among the map's hot cells (noise excluded).

    Hot cells come from `select_cells`; DBSCAN runs on their (row, col) grid coordinates.
    With eps 1.5 and min_samples 3 a cluster is an 8-connected blob of at least 3 cells.
    Returns 0 when fewer than `min_samples` cells qualify.

    >>> m = np.zeros((16, 16)); m[1:4, 1:4] = 1; m[9:12, 9:12] = 1
    >>> cluster_count(m)
    2
    """
    from sklearn.cluster import DBSCAN  # lazy: sklearn takes seconds to import

    hot = select_cells(m, threshold=threshold, quantile=quantile)
    coords = np.argwhere(hot)
    if len(coords) < min_samples:
        return 0
    labels = DBSCAN(eps=eps, min_samples=min_samples).fit_predict(coords)
    return int(np.unique(labels[labels >= 0]).size)


def entropy_evolution(entropies_per_layer: ArrayLike) -> np.ndarray:
    """Layer-to-layer change `ΔH_s[l] = H_s[l] - H_s[l-1]`, aligned to layer index.

    Element 0 is NaN (layer 0 has no predecessor), so `ΔH_s[l]` reads as in the spec.

    >>> entropy_evolution([5.0, 2.5, 2.5, 3.5]).tolist()
    [nan, -2.5, 0.0, 1.0]
    """
    h = as_float(entropies_per_layer, "entropies_per_layer")
    if h.ndim != 1:
        raise ValueError(f"entropies_per_layer must be 1-D, got shape {h.shape}")
    return np.concatenate([[np.nan], np.diff(h)])


def _window(n_layers: int, fraction: float) -> int:
    if n_layers < 2:
        raise ValueError(f"need at least 2 layers for an entropy trend, got {n_layers}")
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction}")
    return max(1, math.ceil(round(fraction * (n_layers - 1), 9)))


def early_entropy_drop(entropies_per_layer: ArrayLike, *, fraction: float = 0.25) -> float:
    """Deepest entropy dip below layer 0 within the first `fraction` of layer transitions.

    `min_{1<=l<=w} H[l] - H[0]` with `w = ceil(fraction·(L-1))`; negative means a drop.

    >>> early_entropy_drop([5.0, 5.0, 2.5, 2.5, 2.5, 2.5, 2.5, 3.5])
    -2.5
    """
    h = as_float(entropies_per_layer, "entropies_per_layer")
    w = _window(h.size, fraction)
    return float(h[1 : w + 1].min() - h[0])


def late_entropy_rise(entropies_per_layer: ArrayLike, *, fraction: float = 0.25) -> float:
    """Rise of the final entropy above its minimum over the last `fraction` of transitions.

    `H[L-1] - min_{L-1-w<=l<=L-1} H[l]` with `w = ceil(fraction·(L-1))`; always >= 0.

    >>> late_entropy_rise([5.0, 5.0, 2.5, 2.5, 2.5, 2.5, 2.5, 3.5])
    1.0
    """
    h = as_float(entropies_per_layer, "entropies_per_layer")
    w = _window(h.size, fraction)
    return float(h[-1] - h[-1 - w :].min())


def early_lock(
    entropies_per_layer: ArrayLike, *, threshold: float = -1.0, fraction: float = 0.25
) -> bool:
    """Early lock: entropy drops by at least |threshold| nats in the first quarter of layers.

    True when `early_entropy_drop(...) <= threshold` (default -1.0 nat).

    >>> early_lock([5.0, 5.0, 2.5, 2.5, 2.5, 2.5, 2.5, 3.5])
    True
    """
    return early_entropy_drop(entropies_per_layer, fraction=fraction) <= threshold


def late_diffusion(
    entropies_per_layer: ArrayLike, *, threshold: float = 0.5, fraction: float = 0.25
) -> bool:
    """Late diffusion (symbolic detachment): entropy rises again over the last quarter.

    True when `late_entropy_rise(...) >= threshold` (default +0.5 nat).

    >>> late_diffusion([5.0, 5.0, 2.5, 2.5, 2.5, 2.5, 2.5, 3.5])
    True
    """
    return late_entropy_rise(entropies_per_layer, fraction=fraction) >= threshold


def layer_maps(image_rows: ArrayLike, grid_shape: tuple[int, int]) -> np.ndarray:
    """Per-layer normalised maps from per-layer image rows.

    `image_rows` is `(layers, n_image)` (heads already averaged) or `(layers, heads, n_image)`
    (averaged here), columns in grid (row-major) order. Returns `(layers, rows, cols)`, each
    map summing to 1. Raises ValueError if `n_image != rows*cols` or a layer is all zero.

    >>> layer_maps(np.ones((2, 3, 6)), (2, 3)).shape
    (2, 2, 3)
    """
    a = as_float(image_rows, "image_rows", min_ndim=2)
    if a.ndim == 3:
        a = a.mean(axis=1)
    elif a.ndim != 2:
        raise ValueError(f"image_rows must be (layers, n) or (layers, heads, n), got {a.shape}")
    rows, cols = grid_shape
    if a.shape[-1] != rows * cols:
        raise ValueError(f"{a.shape[-1]} image tokens do not fill a {rows}x{cols} grid")
    return normalize_map(a.reshape(a.shape[0], rows, cols))


def mean_map(maps: ArrayLike) -> np.ndarray:
    """Headline map: the mean of L1-normalised maps over all leading axes (layers, steps).

    Each map is normalised first, so every layer and step weighs the same.

    >>> mean_map([[[1, 0], [0, 0]], [[0, 0], [0, 1]]]).tolist()
    [[0.5, 0.0], [0.0, 0.5]]
    """
    p = normalize_map(maps)
    return p.reshape(-1, *p.shape[-2:]).mean(axis=0)
