"""Self-consistency signals on answer lists with known values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import entropy

from vrprobe.signals.consistency import (
    answer_entropy,
    consistency_signals,
    distinct_answers,
    majority_correct,
    self_consistency,
)


@pytest.mark.parametrize("k", [1, 2, 10])
def test_all_equal(k):
    answers = ["yes"] * k
    assert self_consistency(answers) == (1.0, "yes")
    assert answer_entropy(answers) == 0.0
    assert distinct_answers(answers) == 1


@pytest.mark.parametrize("k", [2, 5, 10])
def test_all_distinct_is_uniform(k):
    answers = [str(i) for i in range(k)]
    share, majority = self_consistency(answers)
    assert share == pytest.approx(1 / k)
    assert majority == "0"  # tie: first occurrence
    assert answer_entropy(answers) == pytest.approx(math.log(k))
    assert distinct_answers(answers) == k


@pytest.mark.parametrize(
    "answers",
    [
        ["a", "a", "b", "c", "c", "c", "d", "a", "c", "e"],
        ["x", "y", "y", "y"],
        ["", "a", ""],
    ],
)
def test_entropy_matches_scipy(answers):
    counts = [answers.count(a) for a in dict.fromkeys(answers)]
    assert answer_entropy(answers) == pytest.approx(entropy(counts), abs=1e-12)


def test_known_mixture():
    answers = ["b", "a", "a", "b", "c", "a"]
    assert self_consistency(answers) == (0.5, "a")
    assert distinct_answers(answers) == 3
    signals = consistency_signals(answers)
    assert signals["sc_share"] == 0.5 and signals["sc_k"] == 6
    assert signals["sc_entropy"] == pytest.approx(entropy([2, 3, 1]))


def test_ties_are_deterministic():
    assert self_consistency(["b", "a", "a", "b"])[1] == "b"
    assert self_consistency(["a", "b", "b", "a"])[1] == "a"


def test_majority_correct_and_empty():
    assert majority_correct("4", lambda a: a == "4") is True
    assert majority_correct("5", lambda a: np.bool_(a == "4")) is False
    with pytest.raises(ValueError):
        self_consistency([])
