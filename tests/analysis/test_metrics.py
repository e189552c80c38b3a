"""metrics: cross-checked against direct library calls and data with known answers."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from vrprobe.analysis.metrics import (
    Oriented,
    Stat,
    auroc,
    auroc_ci,
    combined_logistic_auroc,
    orient,
    point_biserial,
)


def _data(n=600, seed=0, strength=1.0):
    rng = np.random.default_rng(seed)
    correct = rng.integers(0, 2, n)
    signal = strength * correct + rng.normal(0, 1, n)
    return signal, correct


def test_auroc_matches_sklearn():
    s, y = _data()
    assert auroc(s, y).value == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert auroc(s, y).n == s.size


def test_point_biserial_matches_scipy_and_fisher_ci():
    s, y = _data()
    got = point_biserial(s, y)
    ref = stats.pointbiserialr(y, s)
    assert got.value == pytest.approx(ref.statistic, abs=1e-12)
    assert got.p == pytest.approx(ref.pvalue, rel=1e-9)
    z, half = np.arctanh(ref.statistic), 1.959963984540054 / np.sqrt(s.size - 3)
    assert got.ci == pytest.approx((np.tanh(z - half), np.tanh(z + half)), abs=1e-9)
    wide = point_biserial(s, y, level=0.99)
    assert wide.ci[0] < got.ci[0] and wide.ci[1] > got.ci[1]


def test_point_biserial_small_n_has_no_ci():
    s = point_biserial([0.1, 0.5, 0.3], [0, 1, 1])
    assert s.defined and s.ci is None


def test_perfect_signal():
    y = np.array([0, 1] * 50)
    assert auroc(y.astype(float), y).value == 1.0
    noisy = y + np.random.default_rng(0).normal(0, 0.05, y.size)
    assert point_biserial(y, y).value == pytest.approx(1.0)
    assert point_biserial(noisy, y).value > 0.99


def test_random_signal_is_chance():
    rng = np.random.default_rng(1)
    n = 4000
    y, s = rng.integers(0, 2, n), rng.normal(size=n)
    se = np.sqrt((n + 1) / (12 * y.sum() * (n - y.sum())))  # SE of AUROC under the null
    assert abs(auroc(s, y).value - 0.5) < 4 * se
    assert abs(point_biserial(s, y).value) < 4 / np.sqrt(n)


def test_reversed_signal_and_orientation():
    y = np.array([0, 1, 0, 1, 1, 0])
    assert auroc(-y.astype(float), y).value == 0.0
    flipped = auroc(orient(-y, higher_is_reliable=False), y)
    assert flipped.value == 1.0 and flipped.higher_is_reliable is False
    assert auroc(-y, y, higher_is_reliable=False).value == 1.0
    assert auroc(y, y).higher_is_reliable is True
    r = point_biserial(-y, y, higher_is_reliable=False)
    assert r.value == pytest.approx(1.0) and r.higher_is_reliable is False


def test_orient_records_orientation():
    o = orient([1.0, 2.0], higher_is_reliable=True)
    assert isinstance(o, Oriented) and o.higher_is_reliable and o.values.tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match="already Oriented"):
        auroc(o, [0, 1], higher_is_reliable=True)


def test_auroc_ci_contains_known_binormal_auroc():
    # Binormal: scores ~ N(d, 1) for correct, N(0, 1) for wrong -> AUROC = Phi(d / sqrt 2).
    rng = np.random.default_rng(3)
    d, n = 1.0, 500
    y = np.r_[np.ones(n), np.zeros(n)]
    s = np.r_[rng.normal(d, 1, n), rng.normal(0, 1, n)]
    got = auroc_ci(s, y, n_boot=200, seed=0)
    assert got.value == pytest.approx(roc_auc_score(y, s))
    assert got.ci[0] < stats.norm.cdf(d / np.sqrt(2)) < got.ci[1]
    assert got.ci[1] - got.ci[0] < 0.08 and got.n_boot == 200
    assert auroc_ci(s, y, n_boot=20, seed=7) == auroc_ci(s, y, n_boot=20, seed=7)


def test_auroc_ci_survives_tiny_minority():
    # Stratified resampling: one wrong answer among many still gives a CI, never a crash.
    y = np.r_[np.ones(30), 0]
    s = np.r_[np.linspace(0, 1, 30), 0.5]
    got = auroc_ci(s, y, n_boot=50)
    assert got.defined and got.ci[0] <= got.value <= got.ci[1]


def test_combined_logistic_matches_direct_pipeline():
    rng = np.random.default_rng(4)
    n = 400
    y = rng.integers(0, 2, n)
    X = np.column_stack([y + rng.normal(0, 1.5, n), -y + rng.normal(0, 1.5, n)])
    got = combined_logistic_auroc(X, y, folds=5, seed=2)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=2)
    ref = cross_val_score(model, X, y, cv=cv, scoring="roc_auc").mean()
    assert got.value == pytest.approx(ref, abs=1e-12)
    # two independent informative signals beat either one alone
    assert got.value > max(auroc(X[:, 0], y).value, auroc(-X[:, 1], y).value) + 0.02


def test_combined_logistic_random_is_chance_and_accepts_1d():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 1000)
    assert abs(combined_logistic_auroc(rng.normal(size=(1000, 3)), y).value - 0.5) < 0.06
    assert combined_logistic_auroc(y + rng.normal(size=1000), y).value > 0.7


UNDEFINED = [
    ([0.3, 0.4, 0.5], [1, 1, 1], "single class"),
    ([0.3, 0.4, 0.5], [0, 0, 0], "single class"),
    ([0.3], [1], "fewer than 2"),
    ([], [], "fewer than 2"),
    ([2.0, 2.0, 2.0], [0, 1, 1], "constant signal"),
    ([1.0, 1.0 + 2e-16, 1.0 - 1e-16, 1.0], [0, 1, 1, 0], "constant signal (spread at rounding"),
    ([0.1, np.nan, 0.5], [0, 1, 1], "non-finite values in signal"),
    ([0.1, np.inf, 0.5], [0, 1, 1], "non-finite values in signal"),
    ([0.1, 0.2, 0.5], [0, np.nan, 1], "non-finite values in labels"),
]


@pytest.mark.parametrize(("signal", "correct", "why"), UNDEFINED)
@pytest.mark.parametrize(
    "fn",
    [auroc, point_biserial, lambda s, y: auroc_ci(s, y, n_boot=10), combined_logistic_auroc],
)
def test_undefined_inputs_give_reason(fn, signal, correct, why):
    out = fn(signal, correct)
    assert isinstance(out, Stat) and out.value is None and why in out.reason
    assert np.isnan(float(out))


def test_combined_logistic_needs_minority_per_fold():
    out = combined_logistic_auroc(np.arange(10.0), [0] * 7 + [1] * 3, folds=5)
    assert out.value is None and "minority class" in out.reason


@pytest.mark.parametrize("fn", [auroc, point_biserial, combined_logistic_auroc])
def test_caller_errors_raise(fn):
    with pytest.raises(ValueError, match="length"):
        fn([0.1, 0.2, 0.3], [0, 1])
    with pytest.raises(ValueError, match="binary"):
        fn([0.1, 0.2, 0.3], [0, 1, 2])


def test_stat_invariant():
    with pytest.raises(ValueError):
        Stat(None)
    with pytest.raises(ValueError):
        Stat(0.5, reason="both")


signals = st.lists(
    st.tuples(st.floats(-1e6, 1e6, allow_nan=False), st.booleans()), min_size=0, max_size=40
)


@settings(max_examples=50, deadline=None)
@given(signals)
def test_negation_complements_auroc(pairs):
    s = np.array([p[0] for p in pairs], dtype=float)
    y = np.array([p[1] for p in pairs], dtype=float)
    a, b = auroc(s, y), auroc(-s, y)
    assert a.reason == b.reason
    if a.defined:
        assert a.value + b.value == pytest.approx(1.0, abs=1e-9)
        assert auroc(s, y, higher_is_reliable=False).value == b.value


@settings(max_examples=40, deadline=None)
@given(signals)
def test_auroc_equals_mann_whitney(pairs):
    s = np.array([p[0] for p in pairs], dtype=float)
    y = np.array([p[1] for p in pairs], dtype=bool)
    a = auroc(s, y)
    if a.defined:
        u = stats.mannwhitneyu(s[y], s[~y]).statistic
        assert a.value == pytest.approx(u / (y.sum() * (~y).sum()), abs=1e-9)
