"""How well a reliability signal separates right from wrong answers (SPEC §1 "Evaluation").

Every statistic is a :class:`Stat`. When undefined for the input (fewer than 2 samples,
non-finite values, a single class, a constant signal) it has ``value=None`` and a ``reason``,
rather than an exception from deep inside a library or a misleading number (sklearn says 0.5
for a constant signal). Caller bugs (mismatched lengths, labels not 0/1) raise ``ValueError``.
The numbers come from scikit-learn and scipy; this module validates, orients and bootstraps.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


@dataclass(frozen=True)
class Stat:
    """A statistic, or an explicit undefined result (``value is None`` exactly when ``reason``).

    ``ci`` = (low, high) when computed, ``p`` = p-value, ``n`` = sample count, ``n_boot`` =
    bootstrap resamples used, ``higher_is_reliable`` = raw signal's orientation (None: n/a).

    >>> Stat(0.8, n=10).defined, float(Stat.undefined("constant signal"))
    (True, nan)
    """

    value: float | None
    reason: str | None = None
    ci: tuple[float, float] | None = None
    p: float | None = None
    n: int = 0
    higher_is_reliable: bool | None = None
    n_boot: int | None = None

    def __post_init__(self) -> None:
        if (self.value is None) == (self.reason is None):
            raise ValueError("Stat needs exactly one of value and reason")

    @classmethod
    def undefined(cls, reason: str, n: int = 0, higher_is_reliable: bool | None = None) -> Stat:
        """An undefined statistic with the reason why."""
        return cls(None, reason, n=n, higher_is_reliable=higher_is_reliable)

    @property
    def defined(self) -> bool:
        """True when the statistic has a value."""
        return self.value is not None

    def __float__(self) -> float:
        return float("nan") if self.value is None else float(self.value)


@dataclass(frozen=True, eq=False)
class Oriented:
    """A signal flipped so that higher = more reliable; remembers the raw orientation."""

    values: np.ndarray
    higher_is_reliable: bool


def orient(signal: ArrayLike, higher_is_reliable: bool) -> Oriented:
    """Negate ``signal`` unless higher raw values already mean a more reliable answer.

    >>> o = orient([0.2, 1.5], higher_is_reliable=False)  # e.g. entropy: high = unreliable
    >>> o.values.tolist(), o.higher_is_reliable
    ([-0.2, -1.5], False)
    """
    s = np.asarray(signal, dtype=float)
    return Oriented(s if higher_is_reliable else -s, bool(higher_is_reliable))


def check_binary(correct: ArrayLike, n: int) -> np.ndarray:
    """Labels as a float array of length ``n``; raise on wrong length or values besides 0/1/NaN.

    >>> check_binary([True, False], 2).tolist()
    [1.0, 0.0]
    """
    y = np.asarray(correct, dtype=float)
    if y.ndim != 1 or y.size != n:
        raise ValueError(f"labels must be 1-D of length {n}, got shape {y.shape}")
    if not np.all(np.isin(y[np.isfinite(y)], (0.0, 1.0))):
        raise ValueError("labels must be binary (0/1 or bool)")
    return y


#: relative spread below which a signal counts as constant: far under float32 resolution
#: (1e-7), where scipy's point-biserial warns of a nearly constant input
ROUNDING = 1e-12


def undefined_reason(signal: np.ndarray, y: np.ndarray, min_n: int = 2) -> str | None:
    """Why (signal, labels) admit no statistic, or None; ``signal`` is (n,) or (n, k).

    >>> undefined_reason(np.array([1.0, 2.0]), np.array([1.0, 1.0]))
    'single class (every label is 1)'
    """
    n = y.size
    if n < min_n:
        return f"fewer than {min_n} samples (n={n})"
    bad = int(np.sum(~np.isfinite(signal)))
    if bad:
        return f"non-finite values in signal ({bad} of {signal.size})"
    if not np.all(np.isfinite(y)):
        return "non-finite values in labels"
    if y.min() == y.max():
        return f"single class (every label is {int(y[0])})"
    cols = signal.reshape(n, -1)
    spread, scale = np.ptp(cols, axis=0), np.abs(cols).max(axis=0)
    if np.all(spread == 0):
        return "constant signal"
    if np.all(spread <= ROUNDING * scale):  # ranks of rounding noise are not a signal
        return "constant signal (spread at rounding level)"
    return None


def _prepare(scores, correct, higher_is_reliable):
    if isinstance(scores, Oriented) and higher_is_reliable is not None:
        raise ValueError("signal is already Oriented; do not pass higher_is_reliable")
    o = scores if isinstance(scores, Oriented) else orient(scores, higher_is_reliable is not False)
    if o.values.ndim != 1:
        raise ValueError(f"signal must be 1-D, got shape {o.values.shape}")
    y = check_binary(correct, o.values.size)
    return o, y, undefined_reason(o.values, y)


def auroc(
    scores: ArrayLike | Oriented, correct: ArrayLike, higher_is_reliable: bool | None = None
) -> Stat:
    """AUROC of a signal for predicting a correct answer (sklearn ``roc_auc_score``).

    ``scores``: raw (oriented by ``higher_is_reliable``, default True) or :class:`Oriented`.

    >>> auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]).value
    0.75
    >>> auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], higher_is_reliable=False).value
    0.25
    >>> auroc([3.0, 3.0, 3.0], [0, 1, 1]).reason
    'constant signal'
    """
    o, y, why = _prepare(scores, correct, higher_is_reliable)
    if why:
        return Stat.undefined(why, y.size, o.higher_is_reliable)
    value = float(roc_auc_score(y, o.values))
    return Stat(value, n=y.size, higher_is_reliable=o.higher_is_reliable)


def auroc_ci(
    scores: ArrayLike | Oriented,
    correct: ArrayLike,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    higher_is_reliable: bool | None = None,
) -> Stat:
    """AUROC with a percentile-bootstrap confidence interval.

    Resampling is stratified (correct and incorrect items resampled separately, each to its own
    count), so every resample has both classes and none is skipped.

    >>> s = auroc_ci([0.1, 0.4, 0.35, 0.8, 0.7, 0.2], [0, 0, 1, 1, 1, 0], n_boot=50)
    >>> round(s.value, 3), s.ci[0] <= s.value <= s.ci[1], s.n_boot
    (0.889, True, 50)
    """
    o, y, _ = _prepare(scores, correct, higher_is_reliable)
    if not (point := auroc(o, y)).defined:
        return point
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    # All resamples at once: AUROC = U / (n_pos · n_neg), Mann–Whitney U of each resample
    # (ties count one half, as in roc_auc_score).
    xp = o.values[rng.choice(pos, (n_boot, pos.size))]
    xn = o.values[rng.choice(neg, (n_boot, neg.size))]
    u = stats.mannwhitneyu(xp, xn, axis=1, method="asymptotic", use_continuity=False).statistic
    boots = np.asarray(u, dtype=np.float64) / (pos.size * neg.size)
    lo, hi = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2])
    return replace(point, ci=(float(lo), float(hi)), n_boot=n_boot)


def point_biserial(
    signal: ArrayLike | Oriented,
    correct: ArrayLike,
    level: float = 0.95,
    higher_is_reliable: bool | None = None,
) -> Stat:
    """Point-biserial correlation of a signal with correctness (``scipy.stats.pointbiserialr``).

    ``p`` is two-sided; ``ci`` = Fisher z: tanh(atanh(r) ± z_crit/sqrt(n-3)), None if n ≤ 3.

    >>> s = point_biserial([0.1, 0.4, 0.35, 0.8, 0.7, 0.2], [0, 0, 1, 1, 1, 0])
    >>> round(s.value, 3), s.ci[0] < s.value < s.ci[1]
    (0.763, True)
    """
    o, y, why = _prepare(signal, correct, higher_is_reliable)
    if why:
        return Stat.undefined(why, y.size, o.higher_is_reliable)
    res = stats.pointbiserialr(y, o.values)
    ci = None
    if y.size > 3:  # r_pb is Pearson's r; scipy's Pearson CI is the Fisher-z interval
        low, high = stats.pearsonr(y, o.values).confidence_interval(confidence_level=level)
        ci = (float(low), float(high))
    r, p = float(res.statistic), float(res.pvalue)
    return Stat(r, ci=ci, p=p, n=y.size, higher_is_reliable=o.higher_is_reliable)


def combined_logistic_auroc(
    signals: ArrayLike, correct: ArrayLike, folds: int = 5, seed: int = 0
) -> Stat:
    """Cross-validated AUROC of a logistic regression over several z-scored signals.

    ``signals`` is (n_samples, n_signals) (1-D = one signal). A Pipeline(StandardScaler,
    LogisticRegression) is scored with stratified, shuffled k-fold CV, so scaling is fit within
    each training fold; ``value`` is the mean of the per-fold AUROCs. No orientation is needed:
    the model learns each signal's sign.

    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 200)
    >>> X = np.column_stack([y + rng.normal(0, 1, 200), rng.normal(0, 1, 200)])
    >>> 0.7 < combined_logistic_auroc(X, y).value < 0.85
    True
    """
    X = np.asarray(signals, dtype=float)
    X = X[:, None] if X.ndim == 1 else X
    if X.ndim != 2:
        raise ValueError(f"signals must be (n_samples, n_signals), got shape {X.shape}")
    y = check_binary(correct, X.shape[0])
    why = undefined_reason(X, y)
    if why is None and (minority := int(min(y.sum(), y.size - y.sum()))) < folds:
        why = f"minority class has {minority} samples, fewer than folds={folds}"
    if why:
        return Stat.undefined(why, y.size)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = cross_val_score(model, X, y.astype(int), cv=cv, scoring="roc_auc")
    return Stat(float(np.mean(scores)), n=y.size)
