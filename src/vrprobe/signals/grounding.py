"""Grounding signals on attention rows (SPEC §2–3): where attention goes among the keys.

A *row* is one query position's attention over key positions, shape `(..., keys)`; leading
axes (layers, steps) broadcast and give one value each. Average heads before calling: the mass
measures are linear, so that equals averaging per-head values. Positions are index arrays or
boolean masks over the key axis. Masses are shares of the row's total (rows from a softmax sum
to 1, so this is the plain sum), which makes `EM <= VAM` and `EO in [0, 1]` hold exactly.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from vrprobe.signals._arrays import as_float, positions, scalar_or_array


def _attention(row: ArrayLike) -> np.ndarray:
    a = as_float(row, "row")
    if np.any(a < 0):
        raise ValueError("row has negative values; attention must be non-negative")
    if np.any(a.sum(axis=-1) <= 0):
        raise ValueError("row has zero total attention (empty capture?)")
    return a


def _share(a: np.ndarray, idx: np.ndarray, exclude: ArrayLike | None) -> float | np.ndarray:
    """Share of `a` on `idx`, after dropping `exclude` keys and renormalising; NaN if none left."""
    total = a.sum(axis=-1)
    if exclude is not None:
        drop = positions(exclude, a.shape[-1], "exclude", allow_empty=True)
        idx = np.setdiff1d(idx, drop)
        total = total - a[..., drop].sum(axis=-1)
    num = a[..., idx].sum(axis=-1)
    ok = total > 1e-12 * a.sum(axis=-1)
    return scalar_or_array(np.where(ok, num / np.where(ok, total, 1.0), np.nan))


def visual_attention_mass(
    row: ArrayLike, image_idx: ArrayLike, *, exclude: ArrayLike | None = None
) -> float | np.ndarray:
    """Visual attention mass `VAM = Σ_{j∈I} a_j / Σ_j a_j`: how much the query looks at the image.

    With `exclude` (e.g. `sink_tokens(...)`), those keys are dropped from both numerator and
    total (renormalised); NaN if the excluded keys held all the mass.

    >>> visual_attention_mass([0.1, 0.2, 0.3, 0.4], [1, 2])
    0.5
    >>> round(visual_attention_mass([0.1, 0.2, 0.3, 0.4], [1, 2], exclude=[2]), 4)
    0.2857
    """
    a = _attention(row)
    return _share(a, positions(image_idx, a.shape[-1], "image_idx"), exclude)


def evidence_mass(
    row: ArrayLike, evidence_idx: ArrayLike, *, exclude: ArrayLike | None = None
) -> float | np.ndarray:
    """Evidence mass `EM = Σ_{j∈E} a_j / Σ_j a_j`: attention share on the evidence patches.

    `exclude` drops keys and renormalises as in `visual_attention_mass`.

    >>> evidence_mass([0.1, 0.2, 0.3, 0.4], [2])
    0.3
    """
    a = _attention(row)
    return _share(a, positions(evidence_idx, a.shape[-1], "evidence_idx"), exclude)


def evidence_overlap(
    row: ArrayLike,
    image_idx: ArrayLike,
    evidence_idx: ArrayLike,
    *,
    exclude: ArrayLike | None = None,
) -> float | np.ndarray:
    """Evidence overlap `EO = EM / VAM`: the share of visual attention that lands on evidence.

    Requires `E ⊆ I` (ValueError otherwise). NaN where VAM is 0 (the query ignores the image,
    so where it looks inside the image is undefined).

    >>> evidence_overlap([0.1, 0.2, 0.3, 0.4], [1, 2], [2])
    0.6
    >>> import math; math.isnan(evidence_overlap([1.0, 0.0, 0.0], [1, 2], [2]))
    True
    """
    a = _attention(row)
    n = a.shape[-1]
    img = positions(image_idx, n, "image_idx")
    ev = positions(evidence_idx, n, "evidence_idx")
    if not np.isin(ev, img).all():
        raise ValueError("evidence_idx must be a subset of image_idx")
    vam = np.asarray(_share(a, img, exclude))
    em = np.asarray(_share(a, ev, exclude))
    ok = vam > 0
    return scalar_or_array(np.where(ok, em / np.where(ok, vam, 1.0), np.nan))


def sink_tokens(
    rows_per_head: ArrayLike,
    image_idx: ArrayLike,
    *,
    k: float = 10.0,
    head_fraction: float = 0.5,
) -> np.ndarray:
    """Image tokens acting as attention sinks, as sorted key positions.

    Rule: within each head, an image token is *outlying* if its share of that head's image
    attention exceeds `k` × the mean image share (i.e. `k / |I|`); it is a sink if outlying in
    at least `head_fraction` of the heads. `rows_per_head` is `(heads, keys)` or
    `(..., heads, keys)` (e.g. layers × heads, all voting). Heads with no image attention do not
    vote. Evidence focus varies across heads while sinks persist, hence the vote.

    >>> rows = np.full((4, 22), 1.0); rows[:, 5] = 50.0
    >>> sink_tokens(rows, np.arange(2, 22)).tolist()
    [5]
    """
    a = as_float(rows_per_head, "rows_per_head", min_ndim=2)
    if np.any(a < 0):
        raise ValueError("rows_per_head has negative values")
    img = positions(image_idx, a.shape[-1], "image_idx")
    heads = a.reshape(-1, a.shape[-1])[:, img]
    mass = heads.sum(axis=1)
    heads = heads[mass > 0] / mass[mass > 0, None]
    if heads.shape[0] == 0:
        return np.array([], dtype=np.int64)
    outlying = heads > k / img.size
    votes = outlying.mean(axis=0)
    return img[votes >= head_fraction]


def rapt(row: ArrayLike, section_idx: ArrayLike, prompt_idx: ArrayLike) -> float | np.ndarray:
    """Relative attention per token of a section: `mean_{j∈S} a_j / mean_{j∈prompt} a_j`.

    1 means the section gets its per-token fair share of the prompt's attention. NaN where
    the prompt receives no attention.

    >>> rapt([0.1, 0.1, 0.4, 0.4], [2, 3], [0, 1, 2, 3])
    1.6
    """
    a = _attention(row)
    n = a.shape[-1]
    sec = a[..., positions(section_idx, n, "section_idx")].mean(axis=-1)
    pr = a[..., positions(prompt_idx, n, "prompt_idx")].mean(axis=-1)
    ok = pr > 0
    return scalar_or_array(np.where(ok, sec / np.where(ok, pr, 1.0), np.nan))


class PatchScores(NamedTuple):
    """Patch-level evidence scores; all NaN with `skipped` giving the reason when undefined."""

    auroc: float
    auprc: float
    ndcg: float
    skipped: str | None = None


def patch_evidence_scores(image_row: ArrayLike, evidence_mask: ArrayLike) -> PatchScores:
    """How well per-patch attention ranks evidence patches above the rest (one layer).

    `image_row` is attention over image tokens, `(n_image,)` or a grid map; `evidence_mask` is
    a boolean mask of the same size or indices into it. Returns sklearn AUROC, average
    precision (AUPRC) and NDCG. If every patch is evidence or none is, the sample is skipped:
    all scores NaN and `skipped` says why.

    >>> s = patch_evidence_scores([0.1, 0.5, 0.3, 0.1], [False, True, True, False])
    >>> s.auroc, s.auprc, s.skipped
    (1.0, 1.0, None)
    >>> patch_evidence_scores([0.5, 0.5], [True, True]).skipped
    'all patches are evidence'
    """
    from sklearn.metrics import average_precision_score, ndcg_score, roc_auc_score  # lazy

    score = as_float(image_row, "image_row").ravel()
    ev = np.asarray(evidence_mask)
    if ev.dtype == bool:
        ev = ev.ravel()
    labels = np.zeros(score.size, dtype=bool)
    labels[positions(ev, score.size, "evidence_mask", allow_empty=True)] = True
    if labels.all() or not labels.any():
        reason = "all patches are evidence" if labels.all() else "no evidence patch"
        return PatchScores(math.nan, math.nan, math.nan, reason)
    return PatchScores(
        float(roc_auc_score(labels, score)),
        float(average_precision_score(labels, score)),
        float(ndcg_score(labels[None, :].astype(float), score[None, :])),
    )


def seeing_not_believing(
    evidence_rapt_deep: ArrayLike, nonevidence_rapt_deep: ArrayLike, correct: ArrayLike
) -> float:
    """Share of wrong answers whose deep-layer evidence RAPT exceeds non-evidence RAPT.

    Inputs are per-sample (deep-layer RAPT already averaged by the caller). Samples with a
    NaN RAPT (e.g. no box) are dropped; NaN if no wrong answer remains.

    >>> ev, nonev = [2.0, 3.0, 0.5, 4.0], [1.0, 1.0, 1.0, 1.0]
    >>> round(seeing_not_believing(ev, nonev, [True, False, False, False]), 4)
    0.6667
    """
    ev = np.asarray(evidence_rapt_deep, dtype=np.float64)
    ne = np.asarray(nonevidence_rapt_deep, dtype=np.float64)
    ok = np.asarray(correct)
    if not (ev.shape == ne.shape == ok.shape) or ev.ndim != 1:
        shapes = f"{ev.shape}, {ne.shape}, {ok.shape}"
        raise ValueError(f"need three 1-D arrays of one length, got {shapes}")
    wrong = ~ok.astype(bool) & np.isfinite(ev) & np.isfinite(ne)
    if not wrong.any():
        return math.nan
    return float(np.mean(ev[wrong] > ne[wrong]))
