"""Hidden-state probes: which layer's residual stream knows whether the answer is right.

SPEC §1 "Hidden-state probe" (correctness, AUROC per layer) and §4 "Layer-wise probing"
(answer class, per layer). Every probe is StandardScaler + classifier, scored by stratified
K-fold cross-validation (shuffled, seeded), so each prediction is out-of-fold.

Undefined results are NaN with a reason (issued as a :class:`ProbeWarning`), never a misleading
0.5 or an exception from inside scikit-learn: a class with fewer members than ``folds``
(stratified K-fold cannot place one in every fold; see :func:`probe_undefined_reason`), or a
layer holding non-finite values. Caller bugs (shapes, non-binary labels) raise ``ValueError``.
Numpy + scikit-learn only.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from vrprobe.analysis.metrics import check_binary

Probe = Literal["logistic", "mlp"]


class ProbeWarning(UserWarning):
    """A probe result is NaN; the message says why."""


def make_probe(probe: Probe, *, seed: int = 0, hidden: tuple[int, ...] = (256,)) -> Pipeline:
    """StandardScaler + LogisticRegression, or + MLPClassifier(``hidden``) for ``"mlp"``.

    The default MLP is SPEC's "2-layer MLP (hidden 256)": one hidden layer of 256 units.
    """
    if probe == "logistic":
        clf = LogisticRegression(max_iter=2000)
    elif probe == "mlp":
        clf = MLPClassifier(hidden, solver="lbfgs", max_iter=500, random_state=seed)
    else:
        raise ValueError(f"probe must be 'logistic' or 'mlp', got {probe!r}")
    return make_pipeline(StandardScaler(), clf)


def probe_undefined_reason(labels: ArrayLike, folds: int) -> str | None:
    """Why stratified ``folds``-fold CV is undefined for ``labels``, or None.

    >>> probe_undefined_reason([1, 1, 1, 0], folds=2)
    'class 0 has 1 member(s), fewer than folds=2 (stratified CV needs one per fold)'
    """
    classes, counts = np.unique(np.asarray(labels), return_counts=True)
    if len(classes) < 2:
        return f"single class ({len(classes)} distinct label(s))"
    k = int(np.argmin(counts))
    if counts[k] < folds:
        return (f"class {classes[k]} has {counts[k]} member(s), fewer than folds={folds} "
                "(stratified CV needs one per fold)")  # fmt: skip
    return None


def _check(hidden: ArrayLike, labels: ArrayLike, folds: int) -> tuple[np.ndarray, np.ndarray]:
    h = np.asarray(hidden)
    if h.ndim != 3:
        raise ValueError(f"hidden must be (n, L+1, d), got shape {h.shape}")
    y = np.asarray(labels)
    if y.shape != (h.shape[0],):
        raise ValueError(f"labels must be ({h.shape[0]},), got shape {y.shape}")
    if folds < 2:
        raise ValueError(f"folds must be >= 2, got {folds}")
    return h, y


Score = Callable[[np.ndarray], Sequence[float]]


def _per_layer(h: np.ndarray, y: np.ndarray, model: Pipeline, folds: int, seed: int,
               score: Score, n_scores: int) -> np.ndarray:  # fmt: skip
    """(n_scores, L+1): ``score`` of the out-of-fold probabilities of each finite layer."""
    out = np.full((n_scores, h.shape[1]), np.nan)
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    for layer in range(h.shape[1]):
        x = h[:, layer]
        if not np.isfinite(x).all():
            warnings.warn(f"layer {layer}: non-finite hidden values", ProbeWarning, stacklevel=3)
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            proba = cross_val_predict(model, x, y, cv=cv, method="predict_proba")
        out[:, layer] = score(proba)
    return out


def layer_probe_auroc(hidden: ArrayLike, correct: ArrayLike, *, probe: Probe = "logistic",
                      folds: int = 5, seed: int = 0) -> np.ndarray:  # fmt: skip
    """(L+1,) cross-validated AUROC of a correctness probe on each layer of ``hidden`` (n, L+1, d).

    NaN for every layer when a class has fewer than ``folds`` members, for one layer when it
    holds non-finite values (a :class:`ProbeWarning` says which).

    >>> rng = np.random.default_rng(0)
    >>> y = np.arange(40) % 2 == 0
    >>> h = rng.normal(size=(40, 2, 3)); h[:, 1, 0] += 4 * y
    >>> layer_probe_auroc(h, y).round(1).tolist()[1]
    1.0
    """
    h, _ = _check(hidden, correct, folds)
    y = check_binary(correct, h.shape[0]).astype(int)
    reason = probe_undefined_reason(y, folds)
    if reason:
        warnings.warn(f"probe AUROC undefined: {reason}", ProbeWarning, stacklevel=2)
        return np.full(h.shape[1], np.nan)
    model = make_probe(probe, seed=seed)
    return _per_layer(h, y, model, folds, seed, lambda p: [roc_auc_score(y, p[:, 1])], 1)[0]


def most_predictive_layer(aurocs: ArrayLike) -> int:
    """Index of the highest AUROC (NaN ignored, first on ties); ValueError if all NaN.

    >>> most_predictive_layer([0.5, np.nan, 0.9, 0.9])
    2
    """
    a = np.asarray(aurocs, dtype=float)
    if a.size == 0 or np.isnan(a).all():
        raise ValueError("no defined AUROC to choose a layer from")
    return int(np.nanargmax(a))


def probe_weights(hidden_layer: ArrayLike, correct: ArrayLike) -> np.ndarray:
    """(d,) logistic-regression coefficients on standardised features, fit on all samples.

    Their magnitudes rank hidden dimensions for the causal ablation (SPEC §1 "Causal
    scaling"); NaN (with a warning) when only one class is present.
    """
    x = np.asarray(hidden_layer, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"hidden_layer must be (n, d), got shape {x.shape}")
    y = check_binary(correct, x.shape[0]).astype(int)
    reason = probe_undefined_reason(y, folds=1)
    if reason or not np.isfinite(x).all():
        why = reason or "non-finite hidden values"
        warnings.warn(f"probe weights undefined: {why}", ProbeWarning, stacklevel=2)
        return np.full(x.shape[1], np.nan)
    model = make_probe("logistic")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x, y)
    return model[-1].coef_[0].copy()


def top_dimensions(weights: ArrayLike, k: int) -> np.ndarray:
    """Indices of the ``k`` largest ``|weights|`` (stable: lower index first on ties).

    >>> top_dimensions([0.1, -3.0, 2.0, 0.0], 2).tolist()
    [1, 2]
    """
    w = np.abs(np.asarray(weights, dtype=float))
    return np.argsort(-w, kind="stable")[:k]


@dataclass(frozen=True, eq=False)
class AnswerClassProbe:
    """Per-layer answer-class probe (SPEC §4). ``accuracy``, ``reference_probability`` (mean
    out-of-fold P(reference answer)) and ``truth_probability`` (mean P(label)) are (L+1,);
    ``classes`` the labels kept; ``n_used`` the samples kept; ``reason`` why results are NaN."""

    classes: np.ndarray
    accuracy: np.ndarray
    reference_probability: np.ndarray
    truth_probability: np.ndarray
    n_used: int
    reason: str | None = None


def answer_class_probe(hidden: ArrayLike, labels: ArrayLike, reference: object, *,
                       folds: int = 5, seed: int = 0, hidden_sizes: tuple[int, ...] = (256, 256)
                       ) -> AnswerClassProbe:  # fmt: skip
    """Multi-class MLP probe (3 layers: two hidden + output) of the answer class, per layer.

    ``labels`` (n,) are ground-truth answer classes; ``reference`` is one class or (n,) classes
    (e.g. the language-prior answer). Classes with fewer than ``folds`` samples are dropped
    (stratified CV needs one per fold); a reference absent from the kept classes scores 0.
    """
    h, y = _check(hidden, labels, folds)
    ref = np.asarray(reference, dtype=object)
    ref = np.broadcast_to(ref, y.shape) if ref.ndim == 0 else ref
    if ref.shape != y.shape:
        raise ValueError(f"reference must be one class or ({len(y)},), got shape {ref.shape}")
    classes, counts = np.unique(y, return_counts=True)
    keep = np.isin(y, classes[counts >= folds])
    h, y, ref = h[keep], y[keep], ref[keep]
    classes = np.unique(y)
    reason = probe_undefined_reason(y, folds) if len(classes) >= 2 else "fewer than 2 classes"
    if reason:
        reason += f" after dropping classes with fewer than {folds} members"
        warnings.warn(f"answer-class probe undefined: {reason}", ProbeWarning, stacklevel=2)
        nan = np.full(h.shape[1], np.nan)
        return AnswerClassProbe(classes, nan, nan.copy(), nan.copy(), int(keep.sum()), reason)
    column = {c: i for i, c in enumerate(classes.tolist())}
    ref_col = np.array([column.get(r, -1) for r in ref.tolist()])
    rows, truth_col = np.arange(len(y)), np.searchsorted(classes, y)

    def score(p: np.ndarray) -> list[float]:
        p_ref = np.where(ref_col >= 0, p[rows, ref_col.clip(0)], 0.0)
        return [np.mean(classes[p.argmax(1)] == y), p_ref.mean(), p[rows, truth_col].mean()]

    model = make_probe("mlp", seed=seed, hidden=hidden_sizes)
    acc, p_ref, p_truth = _per_layer(h, y, model, folds, seed, score, 3)
    return AnswerClassProbe(classes, acc, p_ref, p_truth, len(y))
