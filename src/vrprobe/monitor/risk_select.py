"""Choose the risk model's inputs by cross-validated AUROC on the calibration run.

A logistic model on more signals is not always better than the best signal alone: on the demo,
mean log-prob + entropy + VAM + probe scored below mean log-prob on the held-out split. So the
calibration tries nested feature sets (the top-ranked distinct signals 1..n, each with and
without the probe logit) and keeps the one whose out-of-fold P(error) ranks errors best; ties go
to the smaller set. A one-signal model is a monotone map of that signal, so when it wins the
monitor's risk ranks answers exactly as the best signal does.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from vrprobe.analysis.probes import make_probe

FOLDS = 5


def cv_error_auroc(x: np.ndarray, error: np.ndarray, *, seed: int = 0) -> float:
    """AUROC of out-of-fold P(error) from StandardScaler + LogisticRegression (``FOLDS`` folds).

    >>> rng = np.random.default_rng(0)
    >>> e = np.r_[np.zeros(30), np.ones(30)]
    >>> x = (e + rng.normal(0, 0.3, 60))[:, None]
    >>> cv_error_auroc(x, e) > 0.95
    True
    """
    pipe = make_probe("logistic")
    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        p = cross_val_predict(pipe, x, error.astype(int), cv=folds, method="predict_proba")[:, 1]
    return float(roc_auc_score(error.astype(int), p))


def candidate_sets(
    ranked: Sequence[str], *, probe: str | None, required: Sequence[str] = ()
) -> list[tuple[str, ...]]:
    """Nested prefixes of ``ranked`` (plus ``required``), each without and with ``probe``.

    >>> candidate_sets(["a", "b"], probe="p")
    [('a',), ('a', 'p'), ('a', 'b'), ('a', 'b', 'p')]
    >>> candidate_sets(["a"], probe=None, required=["s"])
    [('s',), ('a', 's')]
    """
    start = 0 if required else 1
    out = []
    for i in range(start, len(ranked) + 1):
        base = (*ranked[:i], *required)
        if base:
            out.append(base)
        if probe is not None and base:
            out.append((*base, probe))
    return out


def select_features(
    candidates: Sequence[tuple[str, ...]],
    matrix: Callable[[tuple[str, ...]], np.ndarray],
    error: np.ndarray,
    *,
    seed: int = 0,
) -> tuple[tuple[str, ...], list[dict]]:
    """The candidate with the highest CV AUROC (first = smallest on ties) and every score."""
    if not candidates:
        raise ValueError("select_features needs at least one candidate feature set")
    scores = [
        {"features": list(c), "cv_auroc": cv_error_auroc(matrix(c), error, seed=seed)}
        for c in candidates
    ]
    best = max(range(len(scores)), key=lambda i: (scores[i]["cv_auroc"], -i))
    return tuple(candidates[best]), scores
