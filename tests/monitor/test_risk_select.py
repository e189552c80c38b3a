"""Risk-model feature selection by cross-validated AUROC (monitor.risk_select)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from vrprobe.monitor.risk_select import candidate_sets, cv_error_auroc, select_features


def _data(n: int = 200, seed: int = 0):
    rng = np.random.default_rng(seed)
    error = (rng.random(n) < 0.3).astype(float)
    cols = {
        "signal": error + rng.normal(0, 0.8, n),  # carries the error
        "noise1": rng.normal(0, 1, n),
        "noise2": rng.normal(0, 1, n),
        "probe": rng.normal(0, 1, n),
    }
    return cols, error


def test_a_lone_informative_signal_wins_over_sets_padded_with_noise():
    cols, error = _data()
    cands = candidate_sets(["signal", "noise1", "noise2"], probe="probe")
    chosen, tried = select_features(cands, lambda f: np.column_stack([cols[c] for c in f]), error)
    assert chosen == ("signal",)
    assert len(tried) == len(cands) == 6
    best = max(t["cv_auroc"] for t in tried)
    assert [t["cv_auroc"] for t in tried if tuple(t["features"]) == chosen] == [best]


def test_two_complementary_signals_beat_either_alone():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, 300), rng.normal(0, 1, 300)
    error = (a + b > 0).astype(float)
    cols = {"a": a, "b": b}
    chosen, _ = select_features(
        candidate_sets(["a", "b"], probe=None),
        lambda f: np.column_stack([cols[c] for c in f]),
        error,
    )
    assert chosen == ("a", "b")


def test_one_feature_cv_auroc_equals_the_signal_auroc():
    # a one-feature logistic model is monotone in its input: same ranking in every fold
    cols, error = _data()
    ref = roc_auc_score(error, cols["signal"])
    assert cv_error_auroc(cols["signal"][:, None], error) == pytest.approx(ref, abs=0.02)


def test_required_feature_is_always_kept_and_no_candidates_is_an_error():
    sets = candidate_sets(["a", "b"], probe="p", required=["s"])
    assert all("s" in c for c in sets) and ("s",) in sets
    with pytest.raises(ValueError, match="at least one candidate"):
        select_features([], lambda f: np.zeros((4, 0)), np.zeros(4))
