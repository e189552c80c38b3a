from __future__ import annotations

import numpy as np
import pytest
from scipy.special import log_softmax
from scipy.stats import entropy

from vrprobe.signals.uncertainty import (
    answer_span_entropy,
    answer_span_mask,
    full_response_entropy,
    max_entropy,
    mean_logprob,
    perplexity,
)


def offsets_of(pieces: list[str]) -> tuple[str, list[tuple[int, int]]]:
    spans, pos = [], 0
    for p in pieces:
        spans.append((pos, pos + len(p)))
        pos += len(p)
    return "".join(pieces), spans


def test_summaries_of_known_logits_match_scipy():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(5, 50)) * 3
    logp = log_softmax(logits, axis=-1)
    chosen = logits.argmax(-1)
    ent = entropy(np.exp(logp), axis=-1)
    lp = logp[np.arange(5), chosen]
    assert full_response_entropy(ent) == pytest.approx(ent.mean())
    assert max_entropy(ent) == pytest.approx(ent.max())
    assert mean_logprob(lp) == pytest.approx(lp.mean())
    assert perplexity(lp) == pytest.approx(np.exp(-lp.mean()))


def test_uniform_logits_have_entropy_ln_v():
    v = 1000
    probs = np.exp(log_softmax(np.zeros(v)))
    assert full_response_entropy([entropy(probs)]) == pytest.approx(np.log(v))


def test_answer_entropy_uses_only_the_mask():
    assert answer_span_entropy([5, 5, 1, 3], [0, 0, 1, 1]) == 2.0
    assert np.isnan(answer_span_entropy([5, 5], [0, 0]))
    with pytest.raises(ValueError, match="entries"):
        answer_span_entropy([1, 2], [1])


def test_empty_reply_is_an_error():
    with pytest.raises(ValueError, match="no generated tokens"):
        full_response_entropy([])


@pytest.mark.parametrize(
    ("pieces", "expected"),
    [
        (["red", "</s>"], [True, False]),
        (["Yes", ",", " there", " is", " a", " dog", "."], [True] * 7),
        (
            ["<think>", "The", " box", " is", " red", ".", "</think>", " red"],
            [False] * 7 + [True],
        ),
        (
            ["It", " has", " three", " sides", ".", " Answer", ":", " 3"],
            [False] * 7 + [True],
        ),
        (
            ["We", " add", " them", ".", " So", " \\boxed{", "12", "}"],
            [False] * 6 + [True, False],
        ),
        (
            ["First", " look", " left", ".", " Then", " the", " circle", " is", " blue", "."],
            [False] * 4 + [True] * 6,
        ),
    ],
)
def test_answer_span_is_located(pieces, expected):
    text, offs = offsets_of([p if p != "</s>" else "" for p in pieces])
    assert answer_span_mask(text, offs).tolist() == expected
