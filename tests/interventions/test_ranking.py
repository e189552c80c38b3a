"""The dims layer and ranking: planted correctness in one layer's one dimension is found."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from vrprobe.interventions.ranking import DimsChoice, choose
from vrprobe.interventions.settings import SettingError
from vrprobe.store.shards import write_shard


def _hidden(n: int) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(n, 5, 8))  # L+1 = 5 (4 decoder layers), d = 8


def _run(tmp_path, correct: np.ndarray, planted: tuple[int, int] = (3, 5)):
    hidden = _hidden(len(correct))
    hidden[:, planted[0], planted[1]] += 3.0 * correct
    hidden[:, planted[0], 2] += 0.8 * correct  # a weaker second signal
    rows = [
        {
            "item_key": f"k{i}",
            "sample_id": f"s{i}",
            "perturbation": "none",
            "error": None,
            "correct": bool(c),
            "hidden_prompt": hidden[i],
        }
        for i, c in enumerate(correct)
    ]
    rows.append(
        {
            "item_key": "b",
            "sample_id": "b",
            "perturbation": "blank",
            "error": None,
            "correct": True,
            "hidden_prompt": np.zeros((5, 8)),
        }
    )  # not clean: ignored
    write_shard(tmp_path / "records", rows)
    return tmp_path


def test_most_predictive_layer_and_top_dims_are_the_planted_ones(tmp_path):
    run = _run(tmp_path, np.arange(40) % 2 == 0)
    choice = choose(run, None, need_ranking=True)
    assert choice.layer == 2  # hidden index 3 = output of decoder layer 2
    assert choice.aurocs[2] >= 0.95 and len(choice.aurocs) == 4 and choice.n_records == 40
    assert choice.top(1) == [5] and choice.top(2) == [5, 2] and choice.top(0) == []
    given = choose(run, 0, need_ranking=True)  # decoder layer 0 = hidden index 1
    assert given.layer == 0 and given.layer_source == "--layer"
    y = (np.arange(40) % 2 == 0).astype(int)
    ref = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    ref.fit(_hidden(40)[:, 1], y)
    np.testing.assert_allclose(given.weights, ref[-1].coef_[0], rtol=1e-6, atol=1e-9)


def test_random_sets_are_nested_seeded_and_distinct():
    a = DimsChoice.random(5, 0, 1, 128)
    assert a == DimsChoice.random(5, 0, 1, 128) == DimsChoice.random(9, 0, 1, 128)[:5]
    assert a != DimsChoice.random(5, 1, 1, 128) and len(set(a)) == 5
    assert sorted(DimsChoice.random(128, 2, 1, 128)) == list(range(128))


def test_single_class_is_a_clear_error(tmp_path):
    run = _run(tmp_path, np.ones(12, bool))
    with pytest.raises(SettingError, match=r"cannot pick the most predictive layer.*--layer"):
        choose(run, None, need_ranking=True)
    with pytest.raises(SettingError, match="cannot rank layer 1's dimensions"):
        choose(run, 1, need_ranking=True)
    assert choose(run, 1, need_ranking=False).weights is None  # k = 0 only: nothing to rank
