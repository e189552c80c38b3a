"""interaction: planted coefficients are recovered; agrees with an independent sklearn fit."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from vrprobe.analysis.interaction import (
    InteractionFit,
    bootstrap_interaction_ci,
    fit_interaction,
    predict_interaction,
    transfer_auroc,
)

H_MEAN, H_STD, V_MEAN, V_STD = 2.0, 0.7, 0.3, 0.1


def _simulate(beta, n=3000, seed=0):
    """H, V on their own scales; errors from the logit in population z-units."""
    rng = np.random.default_rng(seed)
    zh, zv = rng.normal(size=n), rng.normal(size=n)
    eta = beta[0] + beta[1] * zh + beta[2] * zv + beta[3] * zh * zv
    error = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    return H_MEAN + H_STD * zh, V_MEAN + V_STD * zv, error


@pytest.mark.parametrize("beta_ev", [0.8, -0.8])
def test_planted_interaction_is_recovered(beta_ev):
    beta = (-0.5, 0.9, -0.6, beta_ev)
    H, V, err = _simulate(beta, seed=1 if beta_ev > 0 else 3)
    fit = fit_interaction(H, V, err)
    assert fit.defined and np.sign(fit.beta_ev) == np.sign(beta_ev)
    # 99% intervals: each check then misses the truth by chance in only 1% of seeds
    assert np.all(np.abs(fit.beta - beta) < 2.576 * fit.se)
    assert np.all((fit.wald_ci[:, 0] < fit.beta) & (fit.beta < fit.wald_ci[:, 1]))
    ci = bootstrap_interaction_ci(H, V, err, n_boot=100, seed=0, level=0.99)
    assert ci.value == pytest.approx(fit.beta_ev)
    assert ci.ci[0] < beta_ev < ci.ci[1] and not ci.ci[0] < 0 < ci.ci[1]
    assert ci.p < 1e-6 and ci.n_boot == 100 and ci.n == H.size


def test_no_interaction_ci_covers_zero():
    H, V, err = _simulate((-0.5, 0.9, -0.6, 0.0), seed=3)
    ci = bootstrap_interaction_ci(H, V, err, n_boot=100)
    assert ci.ci[0] < 0 < ci.ci[1]


def test_matches_independent_sklearn_fit():
    H, V, err = _simulate((0.2, 0.5, 0.5, 0.5), n=800, seed=4)
    zh, zv = (H - H.mean()) / H.std(), (V - V.mean()) / V.std()
    X = np.column_stack([zh, zv, zh * zv])
    ref = LogisticRegression(C=np.inf, tol=1e-10, max_iter=10_000).fit(X, err)
    fit = fit_interaction(H, V, err)
    assert fit.beta == pytest.approx(np.r_[ref.intercept_, ref.coef_[0]], abs=1e-5)
    assert predict_interaction(fit, H, V) == pytest.approx(ref.predict_proba(X)[:, 1], abs=1e-6)
    assert fit.scaling == pytest.approx((H.mean(), H.std(), V.mean(), V.std()))
    assert np.all(fit.se > 0) and fit.wald_ci.shape == (4, 2) and np.all(fit.pvalues <= 1)


def test_prediction_uses_training_scaling():
    H, V, err = _simulate((0.0, 1.0, 0.0, 0.0), n=1000, seed=5)
    fit = fit_interaction(H, V, err)
    # a dataset whose H is shifted by one training std: z must use A's mean/std, not B's
    h0, v0 = np.full(3, fit.scaling[0]), np.full(3, fit.scaling[2])
    p0 = predict_interaction(fit, h0, v0)
    p1 = predict_interaction(fit, h0 + fit.scaling[1], v0)
    logit = np.log(p1 / (1 - p1)) - np.log(p0 / (1 - p0))
    assert logit == pytest.approx(np.full(3, fit.beta[1]))


def test_transfer_auroc():
    beta = (-0.3, 1.0, -0.8, 0.6)
    a, b = _simulate(beta, n=1500, seed=6), _simulate(beta, n=1500, seed=7)
    got = transfer_auroc(fit_on=a, eval_on=b)
    p = predict_interaction(fit_interaction(*a), b[0], b[1])
    assert got.value == pytest.approx(roc_auc_score(b[2], p))
    assert got.value > 0.7 and got.higher_is_reliable is False
    assert transfer_auroc(fit_interaction(*a), b).value == got.value
    flipped = _simulate((-0.3, 1.0, 0.8, -0.6), n=1500, seed=8)  # vision effect reversed on B
    assert transfer_auroc(a, flipped).value < got.value - 0.05


def _undefined_inputs():
    rng = np.random.default_rng(9)
    H, V = rng.normal(size=200), rng.normal(size=200)
    err = (rng.random(200) < 0.4).astype(int)
    return [
        ((H, V, np.zeros(200)), "single class"),
        ((H, np.full(200, 0.5), err), "constant signal: V"),
        ((np.full(200, 1.0), V, err), "constant signal: H"),
        ((H[:5], V[:5], err[:5]), "fewer than 8"),
        ((np.r_[np.nan, H[1:]], V, err), "non-finite"),
        ((H, V, (H > 0).astype(int)), "separation"),
        ((H, H, err), "singular"),
    ]


@pytest.mark.parametrize(("args", "why"), _undefined_inputs())
def test_undefined_inputs_give_reason(args, why):
    fit = fit_interaction(*args)
    assert not fit.defined and why in fit.reason and fit.beta is None and fit.beta_ev is None
    ci = bootstrap_interaction_ci(*args, n_boot=5)
    assert ci.value is None and why in ci.reason
    t = transfer_auroc(fit_on=args, eval_on=_simulate((0.0, 1.0, 0.0, 0.0), n=50))
    assert t.value is None and why in t.reason
    with pytest.raises(ValueError, match="undefined fit"):
        predict_interaction(fit, [0.0], [0.0])


def test_transfer_undefined_on_single_class_target():
    a = _simulate((0.0, 1.0, 0.0, 0.5), n=500, seed=10)
    H, V, _ = _simulate((0.0, 1.0, 0.0, 0.5), n=100, seed=11)
    out = transfer_auroc(a, (H, V, np.ones(100)))
    assert out.value is None and "single class" in out.reason


def _steep(seed, n=40):
    rng = np.random.default_rng(seed)
    H, V = rng.normal(size=n), rng.normal(size=n)
    return H, V, (rng.random(n) < 1 / (1 + np.exp(-4 * H))).astype(int)


def test_bootstrap_skips_separated_resamples():
    # Small, nearly separable data: some resamples separate perfectly and are skipped.
    out = bootstrap_interaction_ci(*_steep(6), n_boot=60)
    assert out.defined and 30 <= out.n_boot < 60
    many = bootstrap_interaction_ci(*_steep(1), n_boot=60)
    assert many.value is None and "bootstrap fits succeeded" in many.reason


def test_caller_errors_raise():
    with pytest.raises(ValueError):
        fit_interaction([1.0, 2.0], [1.0], [0, 1])
    with pytest.raises(ValueError, match="binary"):
        fit_interaction(np.arange(10.0), np.arange(10.0) ** 2, [2] * 10)
    assert isinstance(fit_interaction(np.arange(10.0), np.ones(10), [0, 1] * 5), InteractionFit)
