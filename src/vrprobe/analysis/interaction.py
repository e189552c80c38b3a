"""Entropy × vision interaction model for errors, with bootstrap CI and transfer (SPEC §2).

``logit P(error) = β0 + β_E·z(H) + β_V·z(V) + β_EV·z(H)·z(V)``, fit by statsmodels ``Logit``
(Newton, maximum likelihood). H is e.g. full-response entropy, V late-stage evidence overlap or
visual attention mass. The z-scoring means/stds (population std, ddof=0) come from the training
data and live in the fit, so the same model can score another dataset (fit on A, evaluate on B).
A fit that cannot be identified (a single class, constant H or V, perfect separation, singular
design, no convergence) comes back undefined with a reason rather than with wild coefficients.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import statsmodels.api as sm
from numpy.typing import ArrayLike
from scipy.special import expit
from statsmodels.tools.sm_exceptions import (
    ConvergenceWarning,
    PerfectSeparationError,
    PerfectSeparationWarning,
)

from vrprobe.analysis.metrics import Stat, auroc, check_binary, orient, undefined_reason

NAMES = ("b0", "b_E", "b_V", "b_EV")
MIN_N = 8


@dataclass(frozen=True, eq=False)
class InteractionFit:
    """Coefficients (order ``NAMES``), their standard errors, Wald p-values and 95% Wald CIs
    (shape (4, 2)), plus the training z-scoring; all None with a ``reason`` when undefined."""

    beta: np.ndarray | None
    se: np.ndarray | None
    pvalues: np.ndarray | None
    wald_ci: np.ndarray | None
    scaling: tuple[float, float, float, float] | None  # mean H, std H, mean V, std V
    n: int
    reason: str | None = None

    @property
    def defined(self) -> bool:
        """True when the model was fit."""
        return self.reason is None

    @property
    def beta_ev(self) -> float | None:
        """The interaction coefficient β_EV."""
        return None if self.beta is None else float(self.beta[3])


def _design(h: np.ndarray, v: np.ndarray, scaling: tuple[float, float, float, float]):
    zh, zv = (h - scaling[0]) / scaling[1], (v - scaling[2]) / scaling[3]
    return np.column_stack([np.ones_like(zh), zh, zv, zh * zv])


def _arrays(H: ArrayLike, V: ArrayLike, error: ArrayLike):
    h, v = np.asarray(H, dtype=float), np.asarray(V, dtype=float)
    if h.ndim != 1 or h.shape != v.shape:
        raise ValueError(f"H and V must be 1-D of equal length, got {h.shape} and {v.shape}")
    return h, v, check_binary(error, h.size)


def fit_interaction(
    H: ArrayLike, V: ArrayLike, error: ArrayLike, start: np.ndarray | None = None
) -> InteractionFit:
    """Fit the interaction logit of ``error`` (1 = wrong answer) on z(H), z(V) and z(H)·z(V).

    ``start`` optionally seeds Newton's method (used by the bootstrap). Needs n ≥ 8.

    >>> rng = np.random.default_rng(0)
    >>> H, V = rng.normal(size=800), rng.normal(size=800)
    >>> err = rng.random(800) < 1 / (1 + np.exp(-(0.5 * H + 1.0 * H * V)))
    >>> fit = fit_interaction(H, V, err)
    >>> fit.defined, 0.7 < fit.beta_ev < 1.3
    (True, True)
    >>> fit_interaction(H, np.ones(800), err).reason
    'constant signal: V'
    """
    h, v, y = _arrays(H, V, error)
    why = undefined_reason(np.column_stack([h, v]), y, min_n=MIN_N)
    if why is None and (np.ptp(h) == 0 or np.ptp(v) == 0):
        why = f"constant signal: {'H' if np.ptp(h) == 0 else 'V'}"
    if why:
        return InteractionFit(None, None, None, None, None, y.size, why)
    scaling = (float(h.mean()), float(h.std()), float(v.mean()), float(v.std()))
    X = _design(h, v, scaling)
    if np.linalg.matrix_rank(X) < X.shape[1]:
        return InteractionFit(None, None, None, None, None, y.size, "singular design: collinear")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PerfectSeparationWarning)
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            res = sm.Logit(y, X).fit(disp=0, maxiter=100, start_params=start)
    except (PerfectSeparationError, PerfectSeparationWarning):
        return InteractionFit(None, None, None, None, None, y.size, "perfect separation")
    except np.linalg.LinAlgError as exc:
        return InteractionFit(None, None, None, None, None, y.size, f"singular design: {exc}")
    if not res.mle_retvals.get("converged", False) or not np.all(np.isfinite(res.bse)):
        with np.errstate(over="ignore"):
            separated = np.array_equal(res.predict() > 0.5, y == 1)
        why = "perfect separation" if separated else "logit did not converge"
        return InteractionFit(None, None, None, None, None, y.size, why)
    ci = np.asarray(res.conf_int(alpha=0.05))
    return InteractionFit(res.params, res.bse, res.pvalues, ci, scaling, y.size)


def predict_interaction(fit: InteractionFit, H: ArrayLike, V: ArrayLike) -> np.ndarray:
    """P(error) for new (H, V) using the fit's coefficients and its *training* z-scoring.

    Raises ``ValueError`` for an undefined fit (there is nothing to predict with).

    >>> fit = InteractionFit(np.array([0.0, 1.0, 0.0, 0.0]), None, None, None, (0, 1, 0, 1), 10)
    >>> predict_interaction(fit, [0.0, 100.0], [0.0, 0.0]).round(3).tolist()
    [0.5, 1.0]
    """
    if not fit.defined:
        raise ValueError(f"cannot predict from an undefined fit: {fit.reason}")
    h, v = np.asarray(H, dtype=float), np.asarray(V, dtype=float)
    return expit(_design(h, v, fit.scaling) @ fit.beta)


def bootstrap_interaction_ci(
    H: ArrayLike,
    V: ArrayLike,
    error: ArrayLike,
    n_boot: int = 500,
    seed: int = 0,
    level: float = 0.95,
) -> Stat:
    """β_EV with a percentile-bootstrap CI; ``p`` is the full-data Wald p-value.

    Resampling is stratified by error class and refits the whole procedure, z-scoring included.
    Resamples whose fit is undefined (e.g. separation) are skipped and ``n_boot`` reports the
    number used; if fewer than half succeed the result is undefined.

    >>> rng = np.random.default_rng(1)
    >>> H, V = rng.normal(size=600), rng.normal(size=600)
    >>> err = rng.random(600) < 1 / (1 + np.exp(-(-1.0 * H * V)))
    >>> s = bootstrap_interaction_ci(H, V, err, n_boot=100)
    >>> s.ci[0] < -1.0 < s.ci[1], s.ci[1] < 0
    (True, True)
    """
    h, v, y = _arrays(H, V, error)
    full = fit_interaction(h, v, y)
    if not full.defined:
        return Stat.undefined(full.reason, y.size)
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    betas = []
    for _ in range(n_boot):
        idx = np.concatenate([rng.choice(pos, pos.size), rng.choice(neg, neg.size)])
        fit = fit_interaction(h[idx], v[idx], y[idx], start=full.beta)
        if fit.defined:
            betas.append(fit.beta_ev)
    if len(betas) < max(1, n_boot / 2):
        return Stat.undefined(f"only {len(betas)} of {n_boot} bootstrap fits succeeded", y.size)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(betas, [alpha, 1 - alpha])
    p = float(full.pvalues[3])
    return Stat(full.beta_ev, ci=(float(lo), float(hi)), p=p, n=y.size, n_boot=len(betas))


def transfer_auroc(
    fit_on: tuple[ArrayLike, ArrayLike, ArrayLike] | InteractionFit,
    eval_on: tuple[ArrayLike, ArrayLike, ArrayLike],
) -> Stat:
    """AUROC for detecting errors on dataset B of the interaction model fit on dataset A.

    ``fit_on`` is (H, V, error) of A or an existing fit; ``eval_on`` is (H, V, error) of B.
    The result is oriented as elsewhere: P(error) is a signal where higher = less reliable.

    >>> rng = np.random.default_rng(2)
    >>> def make(n):
    ...     H, V = rng.normal(size=n), rng.normal(size=n)
    ...     return H, V, rng.random(n) < 1 / (1 + np.exp(-(1.5 * H - H * V)))
    >>> 0.7 < transfer_auroc(make(500), make(500)).value < 0.9
    True
    """
    fit = fit_on if isinstance(fit_on, InteractionFit) else fit_interaction(*fit_on)
    h, v, err = _arrays(*eval_on)
    if not fit.defined:
        return Stat.undefined(f"fit on source data undefined: {fit.reason}", err.size, False)
    p_error = predict_interaction(fit, h, v)
    return auroc(orient(p_error, higher_is_reliable=False), 1.0 - err)
