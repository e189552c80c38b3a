"""Layer sets for grounding signals (SPEC §2–3): the deep half, and evidence-profiled layers.

VAM is reported over all layers and over the top half; the VEA highlight uses the layers whose
attention best ranks evidence patches, chosen once per model on a profiling set.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from vrprobe.signals._arrays import nanmean


def select_evidence_layers(auroc_per_layer: ArrayLike, *, fraction: float = 0.1) -> np.ndarray:
    """Layer profiling: the top `ceil(fraction·L)` layers (at least one) by mean evidence AUROC.

    `auroc_per_layer` is `(layers,)` or `(samples, layers)` with NaN for skipped samples
    (NaN-mean over samples). Ceil reproduces the study's picks (4 of 32, 3 of 28, 4 of 34
    layers). Ties go to the shallower layer. Returns sorted layer indices.

    >>> select_evidence_layers([0.5, 0.9, 0.7, 0.95, 0.6, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]).tolist()
    [1, 3]
    """
    a = np.asarray(auroc_per_layer, dtype=np.float64)
    if a.ndim == 2:
        a = nanmean(a, axis=0)  # all-NaN layers stay NaN
    if a.ndim != 1 or a.size == 0 or np.isnan(a).all():
        raise ValueError("auroc_per_layer must be (layers,) or (samples, layers) with some values")
    n = max(1, math.ceil(round(fraction * a.size, 9)))
    order = np.argsort(-np.nan_to_num(a, nan=-np.inf), kind="stable")
    return np.sort(order[: min(n, int(np.isfinite(a).sum()))])


def top_layers(n_layers: int, *, fraction: float = 0.5) -> np.ndarray:
    """Indices of the deepest `ceil(fraction·n_layers)` layers (the "top half" layer set).

    >>> top_layers(5).tolist()
    [2, 3, 4]
    """
    if n_layers < 1 or not 0 < fraction <= 1:
        raise ValueError(f"need n_layers >= 1 and fraction in (0, 1], got {n_layers}, {fraction}")
    n = math.ceil(round(fraction * n_layers, 9))
    return np.arange(n_layers - n, n_layers)
