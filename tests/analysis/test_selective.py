"""selective: risk–coverage, AURC, selective risk and the vision veto."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vrprobe.analysis.selective import (
    aurc,
    optimal_aurc,
    risk_coverage_curve,
    selective_risk_at,
    vision_veto,
)


def _data(n=500, seed=0):
    rng = np.random.default_rng(seed)
    correct = rng.integers(0, 2, n)
    return correct + rng.normal(0, 1, n), correct


def test_curve_matches_brute_force_without_ties():
    conf, y = _data()
    rc = risk_coverage_curve(conf, y)
    order = np.argsort(-conf)
    for k in (1, 7, 100, 250, 499, 500):
        assert rc.risk[k - 1] == pytest.approx(1 - y[order[:k]].mean())
        assert rc.coverage[k - 1] == pytest.approx(k / conf.size)
    assert np.all(np.diff(rc.coverage) > 0) and rc.coverage[-1] == 1.0
    assert rc.risk[-1] == pytest.approx(1 - y.mean())


def test_ties_average_over_every_order():
    conf = np.array([0.9, 0.5, 0.5, 0.5, 0.1])
    y = np.array([1, 0, 1, 0, 1])
    rc = risk_coverage_curve(conf, y)
    # expected risk over all orderings of the tied block, enumerated
    risks = []
    for perm in itertools.permutations([1, 2, 3]):
        order = [0, *perm, 4]
        risks.append([1 - y[order[:k]].mean() for k in range(1, 6)])
    errors = np.mean([[r * k for k, r in enumerate(row, 1)] for row in risks], axis=0)
    assert rc.risk == pytest.approx(errors / np.arange(1, 6))
    shuffled = np.random.default_rng(0).permutation(5)
    assert risk_coverage_curve(conf[shuffled], y[shuffled]).risk == pytest.approx(rc.risk)


def test_constant_confidence_is_flat_at_error_rate():
    y = np.array([1, 0, 1, 1])
    rc = risk_coverage_curve(np.zeros(4), y)
    assert rc.risk == pytest.approx(np.full(4, 0.25))
    assert aurc(np.zeros(4), y).value == pytest.approx(0.25)


@pytest.mark.parametrize(("n", "errors"), [(10, 3), (100, 17), (7, 0), (5, 5)])
def test_perfect_confidence_reaches_analytic_minimum(n, errors):
    y = np.r_[np.ones(n - errors), np.zeros(errors)]
    y = y[np.random.default_rng(n).permutation(n)]
    # all errors ranked last: risk is 0 until k = n - errors, then (k - (n - errors)) / k
    expected = sum((k - (n - errors)) / k for k in range(n - errors + 1, n + 1)) / n
    assert aurc(y.astype(float), y).value == pytest.approx(expected, abs=1e-12)
    assert optimal_aurc(y).value == pytest.approx(expected, abs=1e-12)
    worst = aurc(-y.astype(float), y).value
    assert worst >= aurc(np.random.default_rng(0).normal(size=n), y).value >= expected


def test_optimal_aurc_large_n_matches_continuous_formula():
    r, n = 0.3, 10_000
    y = np.r_[np.ones(int(n * (1 - r))), np.zeros(int(n * r))]
    assert optimal_aurc(y).value == pytest.approx(r + (1 - r) * np.log(1 - r), abs=1e-3)


def test_selective_risk_at():
    conf, y = _data()
    order = np.argsort(-conf)
    assert selective_risk_at(conf, y, 0.9).value == pytest.approx(1 - y[order[:450]].mean())
    assert selective_risk_at(conf, y, 1.0).value == pytest.approx(1 - y.mean())
    assert selective_risk_at(conf, y, 0.001).value == 1 - y[order[0]]
    assert selective_risk_at(conf, y, 0.5).value < selective_risk_at(conf, y, 1.0).value
    with pytest.raises(ValueError, match="coverage"):
        selective_risk_at(conf, y, 0.0)


@pytest.mark.parametrize(
    ("conf", "y", "why"),
    [
        ([], [], "no samples"),
        ([0.1, np.nan], [0, 1], "non-finite"),
        ([0.1, 0.2], [0, np.nan], "labels"),
    ],
)
def test_undefined_inputs(conf, y, why):
    rc = risk_coverage_curve(conf, y)
    assert not rc.defined and rc.coverage.size == 0 and why in rc.reason
    for out in (aurc(conf, y), selective_risk_at(conf, y)):
        assert out.value is None and why in out.reason


def test_single_sample_and_single_class_are_defined():
    assert aurc([0.3], [0]).value == 1.0
    assert aurc([0.3, 0.1, 0.2], [1, 1, 1]).value == 0.0
    with pytest.raises(ValueError, match="binary"):
        aurc([0.1, 0.2], [0, 3])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(-5, 5), st.booleans()), min_size=1, max_size=30))
def test_curve_properties(pairs):
    conf = np.array([p[0] for p in pairs], dtype=float)  # small integers: many ties
    y = np.array([p[1] for p in pairs], dtype=float)
    rc = risk_coverage_curve(conf, y)
    assert np.all(np.diff(rc.coverage) > 0) and rc.coverage[-1] == pytest.approx(1.0)
    assert np.all((rc.risk >= -1e-12) & (rc.risk <= 1 + 1e-12))
    assert rc.risk[-1] == pytest.approx(1 - y.mean())
    perm = np.random.default_rng(len(pairs)).permutation(len(pairs))
    assert risk_coverage_curve(conf[perm], y[perm]).risk == pytest.approx(rc.risk)
    assert aurc(conf, y).value >= optimal_aurc(y).value - 1e-12


def _planted(n=2000, seed=0):
    """Confident-but-blind errors planted in both visual and symbolic items."""
    rng = np.random.default_rng(seed)
    visual = rng.random(n) < 0.5
    conf = rng.normal(size=n)
    vision = rng.uniform(0.3, 1.0, n)
    correct = (rng.random(n) < 1 / (1 + np.exp(-(1 + 2 * conf)))).astype(int)
    blind = rng.random(n) < 0.08
    conf[blind] = rng.uniform(1.5, 3.0, blind.sum())
    vision[blind] = rng.uniform(0.0, 0.05, blind.sum())
    correct[blind] = 0
    return conf, vision, correct, visual, blind


def test_veto_lowers_risk_on_planted_blind_errors():
    conf, vision, correct, visual, blind = _planted()
    r = vision_veto(conf, vision, correct, visual, coverage=0.9, tau_quantile=0.05)
    assert r.reason is None and r.n_vetoed > 0
    assert r.risk_after < r.risk_before and r.delta_risk == pytest.approx(
        r.risk_after - r.risk_before
    )
    assert r.accepted_after.sum() == r.accepted_before.sum() == 1800 and r.coverage == 0.9
    assert r.tau_v == pytest.approx(np.quantile(vision[visual], 0.05))
    assert r.tau_conf == pytest.approx(np.quantile(conf[visual], 0.5))
    dropped = r.accepted_before & ~r.accepted_after
    assert dropped.sum() == r.n_vetoed and np.all(visual[dropped]) and np.all(blind[dropped])
    assert np.all(vision[dropped] < r.tau_v) and np.all(conf[dropped] >= r.tau_conf)
    # refill: the accepted set is the top 1800 of the items that pass the veto
    passes = ~(visual & (conf >= r.tau_conf) & (vision < r.tau_v))
    idx = np.flatnonzero(passes)
    top = idx[np.argsort(-conf[idx], kind="stable")[:1800]]
    assert set(np.flatnonzero(r.accepted_after)) == set(top)


def test_veto_never_touches_symbolic_items():
    conf, vision, correct, visual, blind = _planted(seed=1)
    r = vision_veto(conf, vision, correct, visual, coverage=0.9)
    symbolic_before = r.accepted_before & ~visual
    assert np.all(r.accepted_after[symbolic_before])
    assert np.any(symbolic_before & blind)  # planted blind errors on symbolic items stay in
    vision_nan = np.where(visual, vision, np.nan)  # V need not exist on symbolic items
    assert vision_veto(conf, vision_nan, correct, visual).n_vetoed == r.n_vetoed
    sym = vision_veto(conf, vision, correct, False)
    assert sym.n_vetoed == 0 and sym.delta_risk == 0.0 and sym.tau_v is None
    assert np.array_equal(sym.accepted_before, sym.accepted_after)


def test_veto_calibration_split():
    conf, vision, correct, visual, _ = _planted(seed=2)
    calib = np.arange(conf.size) < 600
    r = vision_veto(conf, vision, correct, visual, tau_quantile=0.05, calibration_mask=calib)
    assert r.tau_v == pytest.approx(np.quantile(vision[calib & visual], 0.05))
    assert not (r.accepted_before | r.accepted_after)[calib].any()
    assert r.accepted_before.sum() == int(np.ceil(0.9 * 1400))
    assert r.risk_after < r.risk_before


def test_veto_refill_shortfall_lowers_coverage():
    r = vision_veto(
        [0.9, 0.8, 0.7], [0.0, 0.0, 1.0], [0, 0, 1], True, coverage=1.0, tau_quantile=0.9
    )
    assert r.n_vetoed == 2 and r.coverage == pytest.approx(1 / 3) and r.risk_after == 0.0


@pytest.mark.parametrize(
    ("kwargs", "why"),
    [
        ({"vision": [0.1, np.nan, 0.3]}, "non-finite vision"),
        ({"confidence": [0.1, np.inf, 0.3]}, "non-finite values in confidence"),
        ({"calibration_mask": [True, True, True]}, "no evaluation items"),
    ],
)
def test_veto_undefined(kwargs, why):
    args = {"confidence": [0.1, 0.2, 0.3], "vision": [0.1, 0.2, 0.3], "correct": [0, 1, 1]}
    args.update(kwargs)
    r = vision_veto(task_is_visual=True, **args)
    assert r.reason is not None and why in r.reason and r.risk_after is None
    with pytest.raises(ValueError):
        vision_veto([0.1, 0.2], [0.1], [0, 1], True)
