"""Properties of the correctness metrics that must hold for every input (hypothesis).

AUROC is symmetric under flipping the labels or negating the signal and invariant to strictly
increasing transforms; point-biserial r flips sign with the labels; risk–coverage coverage grows
strictly to 1 and AURC lies between its optimum and 1; the bootstrap CI contains the point
estimate on non-degenerate data.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.stats import rankdata

from vrprobe.analysis.metrics import auroc, auroc_ci, point_biserial
from vrprobe.analysis.selective import aurc, optimal_aurc, risk_coverage_curve, selective_risk_at

FAST = settings(max_examples=60, deadline=None)
pairs = st.lists(st.tuples(st.floats(-1e3, 1e3), st.booleans()), min_size=2, max_size=40)


def split(p):
    return np.array([a for a, _ in p], float), np.array([b for _, b in p], float)


@FAST
@given(pairs)
def test_auroc_symmetries(p):
    s, y = split(p)
    a = auroc(s, y)
    flipped, negated = auroc(s, 1 - y), auroc(-s, y)
    assert a.defined == flipped.defined == negated.defined
    if a.defined:
        assert flipped.value == pytest.approx(1 - a.value, abs=1e-9)
        assert negated.value == pytest.approx(1 - a.value, abs=1e-9)
        assert auroc(-s, 1 - y).value == pytest.approx(a.value, abs=1e-9)
        # only the order matters: ranks (ties kept) give the same AUROC
        assert auroc(rankdata(s), y).value == pytest.approx(a.value, abs=1e-9)


@FAST
@given(pairs)
def test_point_biserial_flips_sign_with_labels(p):
    s, y = split(p)
    r, flipped = point_biserial(s, y), point_biserial(s, 1 - y)
    assert r.defined == flipped.defined
    if r.defined:
        assert -1 - 1e-9 <= r.value <= 1 + 1e-9
        assert flipped.value == pytest.approx(-r.value, abs=1e-9)


@FAST
@given(st.lists(st.tuples(st.integers(-4, 4), st.booleans()), min_size=1, max_size=40))
def test_risk_coverage_monotone_coverage_and_bounded_aurc(p):
    c, y = split(p)
    rc = risk_coverage_curve(c, y)
    assert np.all(np.diff(rc.coverage) > 0) and rc.coverage[-1] == pytest.approx(1.0)
    assert rc.coverage[0] == pytest.approx(1 / len(p))
    assert selective_risk_at(c, y, 1.0).value == pytest.approx(1 - y.mean())
    assert optimal_aurc(y).value - 1e-12 <= aurc(c, y).value <= 1 + 1e-12
    # a more selective threshold never has to accept more items: risk@k reads the curve
    for cov in (0.5, 0.8, 0.9):
        k = max(1, int(np.ceil(cov * len(p) - 1e-9)))
        assert selective_risk_at(c, y, cov).value == pytest.approx(rc.risk[k - 1])


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(-100, 100), min_size=8, max_size=30, unique=True),
    st.lists(st.floats(-100, 100), min_size=8, max_size=30, unique=True),
    st.integers(0, 2**16),
)
def test_bootstrap_ci_contains_the_point_estimate(pos, neg, seed):
    # non-degenerate: both classes with at least 8 distinct values each
    s = np.array(pos + neg)
    y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    assume(np.unique(s).size == s.size)
    stat = auroc_ci(s, y, n_boot=300, seed=seed)
    lo, hi = stat.ci
    assert 0.0 <= lo <= stat.value <= hi <= 1.0
