"""Hidden-state probes: planted signal, sklearn cross-check, degenerate inputs, run table."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from vrprobe.analysis.probe_table import probe_table, write_probe_table
from vrprobe.analysis.probes import (
    ProbeWarning,
    answer_class_probe,
    layer_probe_auroc,
    most_predictive_layer,
    probe_weights,
    top_dimensions,
)
from vrprobe.store.shards import write_shard

N, LAYERS, D, SIGNAL_LAYER, SIGNAL_DIM = 160, 4, 6, 2, 3


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """Tiny matrices: extra BLAS threads only contend for the shared cores (7x slower)."""
    with threadpool_limits(1):
        yield


def planted(n: int = N, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Pure noise except layer SIGNAL_LAYER, dim SIGNAL_DIM = correctness + small noise."""
    rng = np.random.default_rng(seed)
    correct = rng.permutation(np.arange(n) % 2 == 0)
    hidden = rng.normal(size=(n, LAYERS, D)).astype(np.float32)
    hidden[:, SIGNAL_LAYER, SIGNAL_DIM] = correct + 0.1 * rng.normal(size=n)
    return hidden, correct


@pytest.mark.parametrize("probe", ["logistic", "mlp"])
def test_planted_signal(probe: str) -> None:
    hidden, correct = planted()
    auroc = layer_probe_auroc(hidden, correct, probe=probe)
    assert auroc.shape == (LAYERS,)
    assert auroc[SIGNAL_LAYER] > 0.98
    noise = np.delete(auroc, SIGNAL_LAYER)
    assert np.all(np.abs(noise - 0.5) < 0.2), noise
    assert most_predictive_layer(auroc) == SIGNAL_LAYER


def test_matches_direct_sklearn() -> None:
    hidden, correct = planted()
    auroc = layer_probe_auroc(hidden, correct, folds=4, seed=3)
    layer = 1
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    cv = StratifiedKFold(4, shuffle=True, random_state=3)
    proba = cross_val_predict(model, hidden[:, layer], correct, cv=cv, method="predict_proba")
    assert auroc[layer] == pytest.approx(roc_auc_score(correct, proba[:, 1]), abs=1e-12)


def test_probe_weights_rank_planted_dimension_first() -> None:
    hidden, correct = planted()
    w = probe_weights(hidden[:, SIGNAL_LAYER], correct)
    assert w.shape == (D,)
    assert top_dimensions(w, 1).tolist() == [SIGNAL_DIM]


def test_degenerate_inputs_are_nan_with_reason() -> None:
    hidden, _ = planted(n=20)
    with pytest.warns(ProbeWarning, match="single class"):
        assert np.isnan(layer_probe_auroc(hidden, np.ones(20, bool))).all()
    few_wrong = np.arange(20) >= 3  # 3 wrong answers < 5 folds
    with pytest.warns(ProbeWarning, match="fewer than folds=5"):
        assert np.isnan(layer_probe_auroc(hidden, few_wrong)).all()
    assert not np.isnan(layer_probe_auroc(hidden, few_wrong, folds=3)).any()
    bad = hidden.copy()
    bad[0, 1, 0] = np.nan
    with pytest.warns(ProbeWarning, match="layer 1: non-finite"):
        out = layer_probe_auroc(bad, np.arange(20) % 2 == 0)
    assert np.isnan(out[1]) and not np.isnan(np.delete(out, 1)).any()
    with pytest.warns(ProbeWarning, match="single class"):
        assert np.isnan(probe_weights(hidden[:, 0], np.zeros(20))).all()
    with pytest.raises(ValueError, match="no defined AUROC"):
        most_predictive_layer([np.nan, np.nan])
    with pytest.raises(ValueError, match="binary"):
        layer_probe_auroc(hidden, np.arange(20))
    with pytest.raises(ValueError, match=r"\(n, L\+1, d\)"):
        layer_probe_auroc(hidden[0], np.arange(4) % 2)


def test_answer_class_probe() -> None:
    rng = np.random.default_rng(1)
    n = 90
    labels = np.array(["yes", "no", "maybe"])[np.arange(n) % 3]
    hidden = rng.normal(size=(n, 2, 4))
    hidden[:, 1, :3] += 3 * (labels[:, None] == np.array(["yes", "no", "maybe"]))
    res = answer_class_probe(hidden, labels, "yes", hidden_sizes=(32, 32))
    assert res.classes.tolist() == ["maybe", "no", "yes"] and res.n_used == n
    assert res.accuracy[1] > 0.9 and res.accuracy[0] < 0.6
    assert res.truth_probability[1] > 0.8
    assert abs(res.reference_probability[1] - 1 / 3) < 0.1  # a third of samples are "yes"
    per_sample = answer_class_probe(hidden, labels, labels, hidden_sizes=(32, 32))
    assert per_sample.reference_probability[1] == pytest.approx(per_sample.truth_probability[1])
    unseen = answer_class_probe(hidden[:, :1], labels, "yes-and-more", hidden_sizes=(8,))
    assert unseen.reference_probability.tolist() == [0.0]  # not a class: probability 0
    with pytest.warns(ProbeWarning, match="fewer than 2 classes"):
        one = answer_class_probe(hidden[:10], np.r_[["a"] * 9, ["b"]], "a")
    assert np.isnan(one.accuracy).all() and one.reason


def test_probe_table_and_run_file(tmp_path) -> None:
    hidden, correct = planted(n=40)
    rows = probe_table({"prompt": (hidden, correct)}, probes=("logistic",))
    assert [r["layer"] for r in rows] == list(range(LAYERS))
    assert {tuple(sorted(r)) for r in rows} == {("auroc", "layer", "position", "probe")}
    records = [
        {"item_key": f"k{i}", "correct": bool(c), "error": None, "hidden_prompt": h}
        for i, (h, c) in enumerate(zip(hidden, correct, strict=True))
    ]
    records[0]["hidden_prompt"] = None  # no hidden state: skipped
    write_shard(tmp_path / "records", records[:20])
    write_shard(tmp_path / "records", records[20:])
    write_shard(tmp_path / "records", [{"item_key": "bad", "error": "unreadable image"}])
    out = write_probe_table(tmp_path, probes=("logistic",), folds=3)
    assert out == tmp_path / "analysis" / "probes.parquet"
    table = pq.read_table(out)
    assert table.column_names == ["layer", "position", "probe", "auroc"]
    assert set(table.column("position").to_pylist()) == {"prompt"}  # no hidden_last column
    expected = layer_probe_auroc(hidden[1:], correct[1:], folds=3)
    got = table.column("auroc").to_numpy()
    np.testing.assert_allclose(got, expected)
    assert most_predictive_layer(got) == SIGNAL_LAYER
