"""Numerical guards of the signal functions: inputs whose answer is known by construction.

1. One-hot attention (all mass on one image patch, or on one non-image token such as BOS).
2. NaN / inf inside attention rows, per-token entropies, log-probabilities and logits: the
   result is NaN or a ValueError naming the input, never a finite number and never a numpy
   RuntimeWarning (every test runs with warnings turned into errors).

References come from numpy/scipy/sklearn/torch, not from the code under test.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from scipy.special import log_softmax
from scipy.stats import entropy as scipy_entropy
from sklearn.cluster import DBSCAN

from vrprobe.capture.logit_lens import margins_from_logits
from vrprobe.capture.logits import LogitStats
from vrprobe.signals import sections, spatial, uncertainty
from vrprobe.signals.grounding import (
    evidence_mass,
    evidence_overlap,
    patch_evidence_scores,
    rapt,
    visual_attention_mass,
)

ROWS, COLS = 4, 5
N_IMG = ROWS * COLS
IMAGE = np.arange(1, 1 + N_IMG)  # key 0 is BOS, then the image tokens, then 3 text tokens
N_KEYS = 1 + N_IMG + 3
HOT = (2, 3)  # the grid cell holding all the mass
HOT_KEY = 1 + HOT[0] * COLS + HOT[1]


@pytest.fixture(autouse=True)
def _warnings_are_errors():
    """A silent 0/0 or inf-inf inside numpy would surface here as a failing test."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def one_hot_map() -> np.ndarray:
    m = np.zeros((ROWS, COLS))
    m[HOT] = 1.0
    return m


def one_hot_row(key: int) -> np.ndarray:
    row = np.zeros(N_KEYS)
    row[key] = 1.0
    return row


# --- 1. one-hot attention on an image patch --------------------------------------------------


def test_one_hot_map_has_zero_entropy_like_scipy():
    h = spatial.spatial_entropy(one_hot_map())
    assert scipy_entropy(one_hot_map().ravel()) == 0.0
    # SPEC formula -Σ M ln(M + 1e-9) gives -ln(1 + 1e-9) ≈ -1e-9 on a one-hot map
    assert h == pytest.approx(0.0, abs=1e-8)
    assert h == pytest.approx(-math.log1p(spatial.ENTROPY_EPS), rel=1e-6)


def test_one_hot_stack_gives_zero_entropy_per_map():
    stack = np.stack([one_hot_map(), np.ones((ROWS, COLS))])
    h = spatial.spatial_entropy(stack)
    assert h.shape == (2,)
    assert h[0] == pytest.approx(0.0, abs=1e-8)
    assert h[1] == pytest.approx(scipy_entropy(np.ones(N_IMG)), rel=1e-6)


def test_one_hot_cluster_count_follows_the_spec_minimum():
    # SPEC: C_k is 0 if fewer than 3 cells qualify; one hot cell is one cell.
    assert int(spatial.select_cells(one_hot_map()).sum()) == 1
    assert spatial.cluster_count(one_hot_map()) == 0
    # With min_samples 1 the single cell is one cluster, as DBSCAN itself says.
    ref = DBSCAN(eps=1.5, min_samples=1).fit_predict(np.argwhere(one_hot_map() > 0))
    assert spatial.cluster_count(one_hot_map(), min_samples=1) == np.unique(ref).size == 1
    # The reference ">= 90th percentile" rule selects every cell of a mostly-zero map
    # (the SPEC's ties pitfall): the whole grid is one 8-connected blob.
    every = DBSCAN(eps=1.5, min_samples=3).fit_predict(np.argwhere(np.ones((ROWS, COLS))))
    assert spatial.cluster_count(one_hot_map(), threshold="percentile") == np.unique(every).size


def test_one_hot_row_evidence_mass_is_one_inside_the_box_and_zero_outside():
    row = one_hot_row(HOT_KEY)
    box_with = [HOT_KEY, HOT_KEY + 1]
    box_without = [HOT_KEY - 1, HOT_KEY + 1]
    assert evidence_mass(row, box_with) == 1.0
    assert evidence_mass(row, box_without) == 0.0
    assert visual_attention_mass(row, IMAGE) == 1.0
    assert evidence_overlap(row, IMAGE, box_with) == 1.0
    assert evidence_overlap(row, IMAGE, box_without) == 0.0
    # capture-side reduction (image columns only) agrees
    img = row[IMAGE][None, :]
    assert sections.column_mass(img, np.array(box_with) - 1).tolist() == [1.0]
    assert sections.column_mass(img, np.array(box_without) - 1).tolist() == [0.0]


def test_one_hot_rapt_matches_direct_ratio_of_means():
    row = one_hot_row(HOT_KEY)
    prompt = np.arange(N_KEYS)
    sec = [HOT_KEY, HOT_KEY + 1]
    assert rapt(row, sec, prompt) == pytest.approx(np.mean(row[sec]) / np.mean(row))


def test_one_hot_patch_scores_match_sklearn():
    from sklearn.metrics import roc_auc_score

    labels = np.zeros(N_IMG, bool)
    labels[[HOT_KEY - 1, 0]] = True
    score = one_hot_row(HOT_KEY)[IMAGE]
    s = patch_evidence_scores(score, labels)
    assert s.auroc == pytest.approx(roc_auc_score(labels, score))


# --- 1b. all attention on a non-image token (BOS / system) ----------------------------------


def test_bos_only_row_gives_defined_masses_and_nan_overlap():
    """VAM and EM are shares of the whole row: exactly 0. EO = EM/VAM is 0/0: NaN, silently."""
    row = one_hot_row(0)
    assert visual_attention_mass(row, IMAGE) == 0.0
    assert evidence_mass(row, [HOT_KEY]) == 0.0
    assert math.isnan(evidence_overlap(row, IMAGE, [HOT_KEY]))
    assert rapt(row, IMAGE, np.arange(N_KEYS)) == 0.0
    # the capture-side overlap (sections.safe_ratio) says the same
    em = sections.column_mass(row[IMAGE][None, :], [HOT_KEY - 1])
    assert np.isnan(sections.safe_ratio(em, [0.0])).all()


@pytest.mark.parametrize(
    "fn",
    [
        spatial.normalize_map,
        spatial.spatial_entropy,
        spatial.cluster_count,
        spatial.select_cells,
        spatial.mean_map,
    ],
)
def test_bos_only_image_map_is_a_clear_error_not_a_uniform_map(fn):
    """The image-normalised map of a row with no image mass is 0/0; the spatial functions refuse
    it (ValueError naming the cause) rather than return a uniform map or a number; the record
    builder (exec.measure.spatial_columns) leaves such layers out as NaN."""
    image_map = one_hot_row(0)[IMAGE].reshape(ROWS, COLS)
    with pytest.raises(ValueError, match="all zeros"):
        fn(image_map)


def test_bos_only_layer_in_a_stack_is_refused_too():
    stack = np.stack([one_hot_map(), np.zeros((ROWS, COLS))])
    with pytest.raises(ValueError, match="all zeros"):
        spatial.spatial_entropy(stack)
    with pytest.raises(ValueError, match="all zeros"):
        spatial.layer_maps(stack.reshape(2, -1), (ROWS, COLS))


def test_tiny_image_mass_is_normalised_exactly():
    """A row whose image share underflows float32 but not float64 still gives a valid map."""
    m = one_hot_map() * 1e-300
    m[0, 0] = 1e-300
    p = spatial.normalize_map(m)
    assert p.sum() == pytest.approx(1.0)
    assert spatial.spatial_entropy(m) == pytest.approx(scipy_entropy(m.ravel()), abs=1e-8)


# --- 2. NaN / inf in attention ---------------------------------------------------------------

BAD = [math.nan, math.inf, -math.inf]


@pytest.mark.parametrize("bad", BAD)
@pytest.mark.parametrize(
    "fn",
    [
        lambda r: visual_attention_mass(r, IMAGE),
        lambda r: evidence_mass(r, [HOT_KEY]),
        lambda r: evidence_overlap(r, IMAGE, [HOT_KEY]),
        lambda r: rapt(r, IMAGE, np.arange(N_KEYS)),
        lambda r: patch_evidence_scores(r[IMAGE], np.isin(IMAGE, [HOT_KEY])),
        lambda r: spatial.spatial_entropy(r[IMAGE].reshape(ROWS, COLS)),
        lambda r: spatial.cluster_count(r[IMAGE].reshape(ROWS, COLS)),
        lambda r: spatial.layer_maps(r[IMAGE][None, :], (ROWS, COLS)),
    ],
    ids=["vam", "em", "eo", "rapt", "patch", "entropy", "clusters", "layer_maps"],
)
def test_non_finite_attention_row_is_a_clear_error(fn, bad):
    row = np.full(N_KEYS, 1.0 / N_KEYS)
    row[HOT_KEY + 2] = bad  # an image key that is not evidence
    with pytest.raises(ValueError, match="NaN or inf"):
        fn(row)


@pytest.mark.parametrize("bad", BAD)
def test_capture_side_reductions_never_turn_non_finite_into_finite(bad):
    img = np.full((1, N_IMG), 1.0 / N_KEYS)
    img[0, 3] = bad
    mass = sections.column_mass(img, [3, 4])
    assert not np.isfinite(mass).any()
    # an overlap or RAPT built from a non-finite mass or share is NaN, never 0 or a number
    assert np.isnan(sections.safe_ratio(0.1, mass)).all()
    assert np.isnan(sections.safe_ratio(mass, 0.5)).all()
    assert np.isnan(sections.rapt_from_share(mass, 2, 1.0, N_KEYS)).all()
    assert np.isnan(sections.rapt_from_share(0.1, 2, bad, N_KEYS)).all()
    assert np.isnan(sections.sink_robust_mass(0.5, img, [3])).all()


# --- 2b. NaN / inf in per-token entropies and log-probabilities ------------------------------


def _ref_entropy(logits: np.ndarray) -> float:
    return float(scipy_entropy(np.exp(log_softmax(logits))))


@pytest.mark.parametrize("bad", BAD)
@pytest.mark.parametrize(
    "fn",
    [
        uncertainty.full_response_entropy,
        uncertainty.max_entropy,
        uncertainty.mean_logprob,
        uncertainty.perplexity,
        lambda v: uncertainty.answer_span_entropy(v, [False, True, True]),
    ],
    ids=["full", "max", "logprob", "perplexity", "answer"],
)
def test_reply_summaries_of_non_finite_tokens_are_nan(fn, bad):
    values = np.array([0.5, bad, 0.25])
    assert math.isnan(fn(values))


def test_reply_summaries_of_mixed_infinities_are_nan_without_warning():
    for fn in (uncertainty.full_response_entropy, uncertainty.mean_logprob):
        assert math.isnan(fn([math.inf, -math.inf]))


def test_non_finite_token_outside_the_answer_leaves_answer_entropy_defined():
    ent = np.array([math.nan, 0.5, 0.25])
    assert uncertainty.answer_span_entropy(ent, [False, True, True]) == pytest.approx(0.375)


def _hook_stats(logits: np.ndarray, chosen: int) -> tuple[float, float]:
    stats = LogitStats(max_steps=1)

    class Out:
        pass

    out = Out()
    out.logits = torch.tensor(logits, dtype=torch.float32)[None, None, :]
    stats.hook(None, (), out)
    stats(torch.tensor([[chosen]]), None)
    return float(stats.entropy[0]), float(stats.logprob[0])


def test_token_entropy_of_finite_logits_matches_scipy():
    logits = np.random.default_rng(0).normal(size=50) * 3
    ent, lp = _hook_stats(logits, 7)
    assert ent == pytest.approx(_ref_entropy(logits), rel=1e-5)
    assert lp == pytest.approx(log_softmax(logits)[7], rel=1e-5)


def test_token_entropy_with_masked_vocabulary_entries_is_defined():
    """-inf logits (tokens a model masks out) have p = 0 and contribute 0·ln 0 = 0."""
    logits = np.array([-np.inf, 1.0, 2.0, -np.inf, 0.5])
    ent, lp = _hook_stats(logits, 2)
    finite = logits[np.isfinite(logits)]
    assert ent == pytest.approx(_ref_entropy(finite), rel=1e-5)
    assert lp == pytest.approx(log_softmax(finite)[1], rel=1e-5)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_token_entropy_of_broken_logits_is_nan_not_zero(bad):
    """A NaN or +inf logit (an overflowed forward) has no distribution: entropy NaN, not the
    "fully confident" 0 a nansum over NaN terms would give."""
    logits = np.array([0.0, 1.0, bad, 0.5])
    ent, lp = _hook_stats(logits, 1)
    assert math.isnan(ent)
    assert math.isnan(lp)


@pytest.mark.parametrize("where", [0, 2])
def test_truth_margin_of_nan_logits_is_nan(where):
    logits = torch.tensor([[1.0, 3.0, 2.0], [5.0, 3.0, 2.0]])
    logits[1, where] = math.nan
    m = margins_from_logits(logits, 1)
    assert m[0].item() == pytest.approx(1.0)  # a clean row next to it is unaffected
    assert math.isnan(m[1].item())
