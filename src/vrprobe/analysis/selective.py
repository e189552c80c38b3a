"""Selective prediction: risk–coverage, AURC, selective risk, and the vision veto (SPEC §2).

Confidence is any "higher = more reliable" score (SPEC: confidence = -H). Items are accepted
most-confident first. Ties: the risk–coverage curve averages over tied items (the expected
risk under a uniformly random order within a tie block), so it does not depend on how the
input happens to be ordered; the vision veto needs a concrete accepted set and breaks ties by
input index (stable sort). Selective statistics are defined for n ≥ 1, a single class and a
constant confidence (a constant confidence simply gives a flat curve at the overall error rate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from vrprobe.analysis.metrics import Stat, check_binary


@dataclass(frozen=True, eq=False)
class RiskCoverage:
    """Coverage k/N and selective risk after accepting the k most confident items, k = 1..N.

    Undefined curves have empty arrays and a ``reason``.
    """

    coverage: np.ndarray
    risk: np.ndarray
    reason: str | None = None

    @property
    def defined(self) -> bool:
        """True when the curve has points."""
        return self.reason is None


def _prepare(confidence: ArrayLike, correct: ArrayLike):
    c = np.asarray(confidence, dtype=float)
    if c.ndim != 1:
        raise ValueError(f"confidence must be 1-D, got shape {c.shape}")
    y = check_binary(correct, c.size)
    if c.size == 0:
        return c, y, "no samples"
    if not np.all(np.isfinite(c)):
        return c, y, f"non-finite values in confidence ({int(np.sum(~np.isfinite(c)))} of {c.size})"
    if not np.all(np.isfinite(y)):
        return c, y, "non-finite values in labels"
    return c, y, None


def risk_coverage_curve(confidence: ArrayLike, correct: ArrayLike) -> RiskCoverage:
    """Risk–coverage curve; coverage is strictly increasing, risk at coverage 1 = error rate.

    >>> rc = risk_coverage_curve([0.9, 0.8, 0.8, 0.1], [1, 1, 0, 0])
    >>> rc.coverage.tolist(), rc.risk.tolist()
    ([0.25, 0.5, 0.75, 1.0], [0.0, 0.25, 0.3333333333333333, 0.5])
    """
    c, y, why = _prepare(confidence, correct)
    if why:
        return RiskCoverage(np.empty(0), np.empty(0), why)
    n = c.size
    err = (1.0 - y)[np.argsort(-c, kind="stable")]
    _, start, count = np.unique(-np.sort(c)[::-1], return_index=True, return_counts=True)
    block_err = np.add.reduceat(err, start)
    before = np.concatenate([[0.0], np.cumsum(block_err)[:-1]])
    block = np.repeat(np.arange(start.size), count)
    within = np.arange(n) - start[block] + 1
    expected_errors = before[block] + within * block_err[block] / count[block]
    k = np.arange(1, n + 1)
    return RiskCoverage(k / n, expected_errors / k)


def aurc(confidence: ArrayLike, correct: ArrayLike) -> Stat:
    """Area under the risk–coverage curve: mean selective risk over k = 1..N (lower is better).

    >>> aurc([0.9, 0.8, 0.7, 0.1], [1, 1, 1, 0]).value  # perfect ranking: (0+0+0+1/4)/4
    0.0625
    """
    rc = risk_coverage_curve(confidence, correct)
    if not rc.defined:
        return Stat.undefined(rc.reason, n=np.size(confidence))
    return Stat(float(np.mean(rc.risk)), n=rc.risk.size)


def optimal_aurc(correct: ArrayLike) -> Stat:
    """The smallest AURC any confidence can reach on these labels (all errors ranked last).

    AURC minus this is the excess AURC (E-AURC).

    >>> optimal_aurc([1, 1, 1, 0]).value
    0.0625
    """
    y = check_binary(correct, np.size(correct))
    if y.size == 0 or not np.all(np.isfinite(y)):
        return Stat.undefined("no samples" if y.size == 0 else "non-finite values in labels")
    n, e = y.size, int(y.size - y.sum())
    k = np.arange(1, n + 1)
    return Stat(float(np.mean(np.maximum(0, k - (n - e)) / k)), n=n)


def selective_risk_at(confidence: ArrayLike, correct: ArrayLike, coverage: float = 0.9) -> Stat:
    """Error rate among the ceil(coverage·N) most confident items (tie-averaged).

    >>> selective_risk_at([0.9, 0.8, 0.7, 0.1], [1, 0, 1, 0], coverage=0.75).value
    0.3333333333333333
    """
    if not 0 < coverage <= 1:
        raise ValueError(f"coverage must be in (0, 1], got {coverage}")
    rc = risk_coverage_curve(confidence, correct)
    if not rc.defined:
        return Stat.undefined(rc.reason, n=np.size(confidence))
    k = max(1, math.ceil(coverage * rc.risk.size - 1e-9))
    return Stat(float(rc.risk[k - 1]), n=rc.risk.size)


@dataclass(frozen=True, eq=False)
class VetoResult:
    """Outcome of :func:`vision_veto`. ``delta_risk`` = after − before (negative = veto helped).

    Masks index all N input items (calibration items are never accepted). ``coverage`` is the
    coverage reached after refilling (below target only if too few items survive the veto).
    """

    risk_before: float | None
    risk_after: float | None
    delta_risk: float | None
    n_vetoed: int
    tau_v: float | None
    tau_conf: float | None
    coverage: float
    accepted_before: np.ndarray
    accepted_after: np.ndarray
    reason: str | None = None


def vision_veto(
    confidence: ArrayLike,
    vision: ArrayLike,
    correct: ArrayLike,
    task_is_visual: ArrayLike | bool,
    coverage: float = 0.9,
    tau_quantile: float = 0.1,
    conf_quantile: float = 0.5,
    calibration_mask: ArrayLike | None = None,
) -> VetoResult:
    """Veto confident-but-blind answers on visual-reference items, refilling to the same coverage.

    Thresholds come from the visual items of the calibration split (``calibration_mask``; all
    items when None — no label leakage, the thresholds use no correctness): ``tau_v`` = the
    ``tau_quantile`` quantile of vision signal V, ``tau_conf`` = the ``conf_quantile`` quantile of
    confidence ("low entropy"). On the evaluation items (the rest, or all), an item is vetoable
    when it is visual AND confidence ≥ tau_conf AND V < tau_v; symbolic items are never vetoed
    (their V may be NaN). Before: the ceil(coverage·N) most confident items. After: the same number
    of most confident non-vetoable items. With no visual calibration item nothing is vetoed.

    >>> r = vision_veto([0.9, 0.8, 0.7, 0.6, 0.5], [0.1, 0.9, 0.8, 0.7, 0.6], [0, 1, 1, 1, 1],
    ...                 True, coverage=0.8)
    >>> r.n_vetoed, r.risk_before, r.risk_after
    (1, 0.25, 0.0)
    """
    c, y, why = _prepare(confidence, correct)
    v = np.asarray(vision, dtype=float)
    visual = np.broadcast_to(np.asarray(task_is_visual, dtype=bool), c.shape)
    given = calibration_mask is not None
    calib = np.asarray(calibration_mask, bool) if given else np.ones(c.size, bool)
    if v.shape != c.shape or calib.shape != c.shape:
        raise ValueError("vision, task_is_visual and calibration_mask must match confidence")
    if not 0 < coverage <= 1:
        raise ValueError(f"coverage must be in (0, 1], got {coverage}")
    evaluate = ~calib if given else calib
    if why is None and not np.all(np.isfinite(v[visual])):
        why = "non-finite vision signal on visual-reference items"
    if why is None and not evaluate.any():
        why = "no evaluation items outside the calibration split"
    empty = np.zeros(c.size, bool)
    if why:
        return VetoResult(None, None, None, 0, None, None, 0.0, empty, empty, why)
    cal_visual = calib & visual
    tau_v = float(np.quantile(v[cal_visual], tau_quantile)) if cal_visual.any() else None
    tau_c = float(np.quantile(c[cal_visual], conf_quantile)) if cal_visual.any() else None
    vetoable = empty.copy()
    if tau_v is not None:
        vetoable = visual & (c >= tau_c) & (np.where(visual, v, np.inf) < tau_v)
    idx = np.flatnonzero(evaluate)
    order = idx[np.argsort(-c[idx], kind="stable")]
    k = max(1, math.ceil(coverage * idx.size - 1e-9))
    before, after = empty.copy(), empty.copy()
    before[order[:k]] = True
    after[order[~vetoable[order]][:k]] = True
    risk_b = float(1 - y[before].mean())
    risk_a = float(1 - y[after].mean()) if after.any() else None
    delta = None if risk_a is None else risk_a - risk_b
    n_vetoed = int((before & vetoable).sum())
    cov = after.sum() / idx.size
    return VetoResult(risk_b, risk_a, delta, n_vetoed, tau_v, tau_c, cov, before, after)
