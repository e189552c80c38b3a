"""Reasoning-axis helpers: collapse, area, bins, per-step means and step segmentation."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vrprobe.signals.steps import (
    collapse_ratio,
    normalized_auc,
    per_step_mean,
    relative_bins,
    segment_steps,
)


def tokenize(pieces):
    """Text and [start, end) offsets from a list of token strings."""
    ends = np.cumsum([len(p) for p in pieces])
    return "".join(pieces), np.stack([ends - [len(p) for p in pieces], ends], axis=1)


def test_collapse_of_constant_is_zero_and_half_drop_is_half():
    assert collapse_ratio(np.full(50, 0.3)) == pytest.approx(0.0)
    assert collapse_ratio(np.r_[np.ones(10), np.linspace(1, 0.5, 30), np.full(10, 0.5)]) == (
        pytest.approx(0.5)
    )
    assert collapse_ratio([0.2]) == 0.0


def test_collapse_windows_are_parameters_and_zero_start_is_nan():
    curve = np.r_[np.full(5, 1.0), np.full(15, 0.8), np.full(5, 0.4)]
    assert collapse_ratio(curve, head=0.2, tail=0.2) == pytest.approx(0.6)
    assert collapse_ratio(curve, head=0.2, tail=0.4) == pytest.approx(1 - (0.4 + 0.8) / 2)
    assert math.isnan(collapse_ratio([0.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match="non-empty"):
        collapse_ratio([])


def test_normalized_auc():
    assert normalized_auc(np.full(7, 0.4)) == pytest.approx(0.4)
    assert normalized_auc(np.linspace(1, 0, 101)) == pytest.approx(0.5)
    assert normalized_auc([0.3]) == 0.3


def test_relative_bins_equal_bins_and_short_inputs():
    v = np.arange(100.0)
    np.testing.assert_allclose(relative_bins(v), np.arange(10) * 10 + 4.5)
    short = relative_bins([1.0, 2.0, 3.0], n_bins=10)
    assert short.shape == (10,) and np.isfinite(short).sum() == 3
    with pytest.raises(ValueError):
        relative_bins([])


def test_per_step_mean_skips_excluded_and_nan():
    vals = np.array([[1.0, 10.0], [3.0, np.nan], [5.0, 50.0], [7.0, 70.0]])
    out = per_step_mean(vals, [0, 0, -1, 2], n_steps=4)
    np.testing.assert_allclose(out[0], [2.0, 10.0])
    assert np.isnan(out[1]).all() and np.isnan(out[3]).all()
    np.testing.assert_allclose(out[2], [7.0, 70.0])
    with pytest.raises(ValueError, match="one step id per token"):
        per_step_mean([1.0, 2.0], [0])


# --- segmentation -------------------------------------------------------------------------


def test_paragraph_steps_think_tags_and_answer_marker():
    pieces = ["<think>", "First", " look", ".", "\n\n", "Then", " count", ".", "\n", "</think>"]
    pieces += ["\n", "Answer", ":", " 3"]
    text, offs = tokenize(pieces)
    seg = segment_steps(text, offs)
    assert seg.n_steps == 2
    assert seg.step_ids.tolist() == [-1, 0, 0, 0, 0, 1, 1, 1, -1, -1, -1, -1, -1, -1]
    assert seg.answer_mask.tolist() == [False] * 13 + [True]
    assert text[slice(*seg.answer_span)] == "3"


def test_sentence_steps_and_boxed_answer():
    text, offs = tokenize(["The sign is red", ". ", "Red is 3.5", " units", ". ", "So \\boxed{"])
    text2, offs2 = tokenize(["{red}", "}"])
    text += text2
    offs = np.r_[offs, offs2 + offs[-1, 1]]
    seg = segment_steps(text, offs)
    assert [text[a:b] for a, b in seg.step_spans] == ["The sign is red.", "Red is 3.5 units.", "So"]
    assert seg.step_ids.tolist() == [0, 0, 1, 1, 1, 2, -1, -1]
    assert text[slice(*seg.answer_span)] == "{red}"
    assert seg.answer_mask.tolist() == [False] * 6 + [True, False]


def test_answer_marker_glued_to_box_ends_reasoning_at_marker():
    text = "Count the dots. There are four.\nFinal Answer: \\boxed{4}"
    seg = segment_steps(text, [(0, 15), (16, 31), (32, 45), (46, 55)])
    assert seg.step_ids.tolist() == [0, 1, -1, -1]
    assert text[slice(*seg.answer_span)] == "4"


def test_last_sentence_fallback_and_unit_choice():
    text = "It is round. It is blue. The ball is blue."
    offs = [(0, 12), (12, 24), (24, 42)]
    seg = segment_steps(text, offs)
    assert text[slice(*seg.answer_span)] == "The ball is blue."
    assert seg.step_ids.tolist() == [0, 1, -1]
    para = segment_steps(text, offs, unit="paragraph")
    assert para.step_ids.tolist() == [0, 0, -1]


def test_mid_sentence_answer_word_is_not_a_marker():
    text = "To find the answer: look left. Answer: left"
    seg = segment_steps(text, [(0, 30), (30, 43)])
    assert text[slice(*seg.answer_span)] == "left"
    assert seg.step_ids.tolist() == [0, -1]


def test_empty_and_special_tokens():
    seg = segment_steps("yes", [(0, 0), (0, 3)])
    assert seg.n_steps == 0 and seg.step_ids.tolist() == [-1, -1]
    assert seg.answer_mask.tolist() == [False, True]
    empty = segment_steps("", np.zeros((0, 2), dtype=int))
    assert empty.step_ids.size == 0 and empty.answer_span is None
    with pytest.raises(ValueError, match="token_offsets"):
        segment_steps("abc", [(0, 9)])
    with pytest.raises(ValueError, match="unit"):
        segment_steps("abc", [(0, 3)], unit="line")


WORDS = ["The", " dog", " is", " red", ".", " 3.5", "\n", "\n\n", " ", "<think>", "</think>"]
WORDS += ["Answer:", " \\boxed{", "}", "!", " so"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(WORDS), max_size=40), st.sampled_from(["auto", "sentence"]))
def test_segmentation_invariants(pieces, unit):
    text, offs = tokenize(pieces) if pieces else ("", np.zeros((0, 2), dtype=int))
    seg = segment_steps(text, offs, unit=unit)
    ids = seg.step_ids
    assert ids.shape == (len(pieces),) and seg.answer_mask.shape == (len(pieces),)
    assert ((ids >= -1) & (ids < seg.n_steps)).all()
    kept = ids[ids >= 0]
    assert (np.diff(kept) >= 0).all()  # steps follow the text order
    for p, i in zip(pieces, ids, strict=True):
        if p in ("<think>", "</think>"):
            assert i == -1
    for a, b in seg.step_spans:
        assert text[a:b].strip() == text[a:b] != ""
