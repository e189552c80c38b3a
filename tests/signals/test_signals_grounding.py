"""Grounding signals on rows built so the answer is known, plus independent references."""

import math

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vrprobe.signals.grounding import (
    evidence_mass,
    evidence_overlap,
    patch_evidence_scores,
    rapt,
    seeing_not_believing,
    sink_tokens,
    visual_attention_mass,
)
from vrprobe.signals.layers import select_evidence_layers, top_layers

FAST = settings(max_examples=40, deadline=None)
# 40 keys: 0..4 system/question prefix, 5..29 image (5x5 grid), 30..39 question text.
IMAGE = np.arange(5, 30)
BOX = np.array([11, 12, 16, 17])  # a 2x2 evidence box inside the image
PROMPT = np.arange(40)


def test_vam_is_the_image_share():
    row = np.zeros(40)
    row[IMAGE] = 0.6 / 25
    row[30:] = 0.04
    assert visual_attention_mass(row, IMAGE) == pytest.approx(0.6)
    mask = np.zeros(40, dtype=bool)
    mask[IMAGE] = True
    assert visual_attention_mass(row, mask) == pytest.approx(0.6)


def test_attention_inside_the_box_gives_overlap_one():
    row = np.zeros(40)
    row[BOX] = 0.2
    row[0] = 0.2
    assert evidence_mass(row, BOX) == pytest.approx(visual_attention_mass(row, IMAGE))
    assert evidence_overlap(row, IMAGE, BOX) == pytest.approx(1.0)


def test_zero_vam_gives_nan_overlap_and_zero_row_raises():
    row = np.zeros(40)
    row[35] = 1.0
    assert visual_attention_mass(row, IMAGE) == 0.0
    assert math.isnan(evidence_overlap(row, IMAGE, BOX))
    with pytest.raises(ValueError, match="zero total"):
        visual_attention_mass(np.zeros(40), IMAGE)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((np.ones(40), IMAGE, [3]), "subset"),
        ((np.ones(40), [], BOX), "no position"),
        ((np.ones(40), [5, 5, 6], BOX), "duplicate"),
        ((np.ones(40), [5, 40], BOX), "lie in"),
        ((np.ones(40), np.ones(39, dtype=bool), BOX), "mask"),
        ((np.array([]), IMAGE, BOX), "empty"),
    ],
)
def test_bad_positions_raise(args, match):
    with pytest.raises(ValueError, match=match):
        evidence_overlap(*args)


def test_rows_broadcast_over_leading_axes():
    rows = np.ones((3, 4, 40))  # layers x steps x keys
    rows[1, :, IMAGE] = 0.0
    vam = visual_attention_mass(rows, IMAGE)
    assert vam.shape == (3, 4)
    np.testing.assert_allclose(vam[[0, 2]], 25 / 40)
    np.testing.assert_allclose(vam[1], 0.0)


# --- sinks --------------------------------------------------------------------------------


def planted_sink_rows(rng, sink=7, heads=8):
    rows = rng.random((heads, 40)) + 0.5
    rows[: heads - 2, sink] = 30.0  # the sink dominates all but two heads
    rows[0, 20] = 30.0  # one head focuses on a real patch: not a sink
    return rows / rows.sum(axis=1, keepdims=True)


def test_planted_sink_is_detected_and_excluded():
    rows = planted_sink_rows(np.random.default_rng(0))
    sinks = sink_tokens(rows, IMAGE)
    assert sinks.tolist() == [7]
    row = rows.mean(axis=0)
    robust = visual_attention_mass(row, IMAGE, exclude=sinks)
    keep = np.setdiff1d(IMAGE, [7])
    expected = row[keep].sum() / (1.0 - row[7])
    assert robust == pytest.approx(expected)
    assert robust < visual_attention_mass(row, IMAGE)


def test_sink_vote_uses_layers_times_heads_and_ignores_blind_heads():
    rows = np.stack([planted_sink_rows(np.random.default_rng(s)) for s in range(3)])
    rows[0, 0] = 0.0
    rows[0, 0, 0] = 1.0  # a head that never looks at the image does not vote
    assert sink_tokens(rows, IMAGE).tolist() == [7]
    assert sink_tokens(np.ones((4, 40)), IMAGE).size == 0


def test_exclude_all_mass_gives_nan():
    row = np.zeros(40)
    row[7] = 1.0
    assert math.isnan(visual_attention_mass(row, IMAGE, exclude=[7]))


# --- RAPT and seeing-not-believing ---------------------------------------------------------


@pytest.mark.parametrize("section", [IMAGE, BOX, np.arange(30, 40), np.setdiff1d(IMAGE, BOX)])
def test_rapt_of_uniform_row_is_one(section):
    assert rapt(np.full(40, 1 / 40), section, PROMPT) == pytest.approx(1.0)


def test_rapt_per_layer():
    rows = np.full((2, 40), 1.0)
    rows[1, BOX] = 11.0  # box tokens get 11x the others
    r = rapt(rows, BOX, PROMPT)
    assert r[0] == pytest.approx(1.0)
    assert r[1] == pytest.approx(11.0 / ((36 + 44) / 40))


def test_seeing_not_believing_counts_only_wrong_answers():
    ev = [2.0, 0.5, 3.0, np.nan, 1.5]
    ne = [1.0, 1.0, 1.0, 1.0, 2.0]
    correct = [True, False, False, False, False]
    assert seeing_not_believing(ev, ne, correct) == pytest.approx(1 / 3)
    assert math.isnan(seeing_not_believing([1.0], [0.5], [True]))
    with pytest.raises(ValueError, match="1-D"):
        seeing_not_believing([1.0, 2.0], [1.0], [True])


# --- patch-level evidence scores ----------------------------------------------------------


def rank_sum_auroc(score, labels):
    u = scipy.stats.mannwhitneyu(score[labels], score[~labels], alternative="two-sided").statistic
    return u / (labels.sum() * (~labels).sum())


@pytest.mark.parametrize("ties", [False, True])
def test_auroc_matches_mann_whitney(ties):
    rng = np.random.default_rng(4)
    score = rng.random(64)
    if ties:
        score = np.round(score * 4) / 4
    labels = rng.random(64) < 0.3
    s = patch_evidence_scores(score, labels)
    assert s.skipped is None
    assert s.auroc == pytest.approx(rank_sum_auroc(score, labels))
    assert 0 < s.auprc <= 1 and 0 < s.ndcg <= 1


def test_perfect_and_inverted_rankings():
    grid = np.zeros((5, 5))
    grid[2:4, 1:3] = 1.0
    perfect = patch_evidence_scores(grid + 0.01, grid.astype(bool))
    assert perfect == (1.0, 1.0, pytest.approx(1.0), None)
    inverted = patch_evidence_scores(1.0 - grid, np.flatnonzero(grid.ravel()))
    assert inverted.auroc == 0.0


@pytest.mark.parametrize(("mask", "reason"), [(np.ones(9, bool), "all"), (np.zeros(9, bool), "no")])
def test_constant_labels_are_skipped(mask, reason):
    s = patch_evidence_scores(np.arange(9.0), mask)
    assert s.skipped.startswith(reason)
    assert all(math.isnan(x) for x in s[:3])


# --- layers -------------------------------------------------------------------------------


@pytest.mark.parametrize(("n_layers", "n_selected"), [(32, 4), (28, 3), (34, 4), (5, 1)])
def test_layer_profiling_counts_match_study(n_layers, n_selected):
    auroc = np.linspace(0.5, 0.6, n_layers)
    picked = select_evidence_layers(auroc)
    assert picked.tolist() == list(range(n_layers - n_selected, n_layers))


def test_layer_profiling_nan_mean_over_samples():
    a = np.array([[0.9, 0.5, np.nan], [np.nan, 0.6, np.nan], [0.7, 0.55, np.nan]])
    assert select_evidence_layers(a, fraction=0.5).tolist() == [0, 1]
    with pytest.raises(ValueError):
        select_evidence_layers(np.full((2, 3), np.nan))


def test_top_layers():
    assert top_layers(32).tolist() == list(range(16, 32))
    assert top_layers(1).tolist() == [0]


# --- properties ---------------------------------------------------------------------------

rows40 = arrays(np.float64, 40, elements=st.floats(0, 1)).filter(lambda r: r.sum() > 1e-3)


@FAST
@given(rows40, st.lists(st.integers(5, 29), min_size=1, max_size=25, unique=True))
def test_evidence_mass_at_most_vam(row, ev):
    em, vam = evidence_mass(row, ev), visual_attention_mass(row, IMAGE)
    assert 0 <= em <= vam + 1e-12
    eo = evidence_overlap(row, IMAGE, ev)
    assert math.isnan(eo) or 0 <= eo <= 1 + 1e-12
