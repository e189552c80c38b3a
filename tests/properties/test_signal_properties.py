"""Properties of the signal functions that must hold for every input (hypothesis).

Each property is a mathematical fact about the definition (SPEC §1–2), so a failure is a bug in
the code, not a tolerance to tune: entropy bounds, invariance to how cells or answers are
ordered, cluster counts that do not depend on where a pattern sits on a zero-padded grid or on
transposing it, and masses that stay shares.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vrprobe.capture.logits import LogitStats
from vrprobe.signals.consistency import answer_entropy, distinct_answers, self_consistency
from vrprobe.signals.grounding import evidence_mass, patch_evidence_scores, visual_attention_mass
from vrprobe.signals.spatial import cluster_count, select_cells, spatial_entropy
from vrprobe.signals.uncertainty import full_response_entropy, max_entropy, perplexity

FAST = settings(max_examples=60, deadline=None)
cells = st.one_of(st.just(0.0), st.floats(1e-6, 1.0))
maps = arrays(np.float64, st.tuples(st.integers(2, 10), st.integers(2, 10)), elements=cells).filter(
    lambda m: m.sum() > 1e-6
)
answers = st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), min_size=1, max_size=20)


@FAST
@given(maps, st.randoms(use_true_random=False))
def test_spatial_entropy_bounded_and_invariant_to_cell_order(m, rnd):
    h = spatial_entropy(m)
    assert -1e-6 <= h <= math.log(m.size) + 1e-6
    flat = m.ravel().copy()
    rnd.shuffle(flat)
    assert spatial_entropy(flat.reshape(m.shape)) == pytest.approx(h, abs=1e-9)
    assert spatial_entropy(m.T) == pytest.approx(h, abs=1e-9)
    assert spatial_entropy(m * 8.0) == pytest.approx(h, abs=1e-9)  # normalised first


@FAST
@given(maps, st.integers(0, 4), st.integers(0, 4), st.integers(0, 4), st.integers(0, 4))
def test_cluster_count_invariant_to_translation_on_a_zero_padded_grid(m, top, left, bottom, right):
    # Rank selection never picks a zero cell, so zero padding adds no hot cell; the pattern's
    # position on the grid must not matter. (Percentile selection does not have this property:
    # padding changes the percentile.)
    r, c = m.shape
    size = (r + 4, c + 4)
    a, b = np.zeros(size), np.zeros(size)
    a[top : top + r, left : left + c] = m
    b[bottom : bottom + r, right : right + c] = m
    assert cluster_count(a) == cluster_count(b)


@FAST
@given(maps, st.sampled_from(["rank", "percentile"]))
def test_cluster_count_invariant_to_transpose_and_flips(m, threshold):
    n = cluster_count(m, threshold=threshold)
    assert cluster_count(m.T, threshold=threshold) == n
    assert cluster_count(m[::-1], threshold=threshold) == n
    assert cluster_count(m[:, ::-1], threshold=threshold) == n
    assert 3 * n <= select_cells(m, threshold=threshold).sum()  # a cluster has >= 3 cells


@FAST
@given(answers, st.randoms(use_true_random=False))
def test_answer_distribution_signals_bounds_and_order_invariance(ans, rnd):
    k = len(ans)
    share, majority = self_consistency(ans)
    h = answer_entropy(ans)
    assert 1 / k - 1e-12 <= share <= 1.0 and majority in ans
    assert 0.0 <= h <= math.log(distinct_answers(ans)) + 1e-9 <= math.log(k) + 1e-9
    assert (h == 0.0) == (distinct_answers(ans) == 1)
    shuffled = list(ans)
    rnd.shuffle(shuffled)
    assert self_consistency(shuffled)[0] == share  # the majority may differ on ties only
    assert answer_entropy(shuffled) == pytest.approx(h, abs=1e-12)
    assert ans.count(self_consistency(shuffled)[1]) == ans.count(majority)


@FAST
@given(
    arrays(np.float64, st.integers(1, 30), elements=st.floats(0, 12)),
    st.randoms(use_true_random=False),
)
def test_reply_entropy_is_a_mean_and_order_free(ent, rnd):
    full = full_response_entropy(ent)
    assert ent.min() - 1e-12 <= full <= max_entropy(ent) + 1e-12
    shuffled = ent.copy()
    rnd.shuffle(shuffled)
    assert full_response_entropy(shuffled) == pytest.approx(full, abs=1e-9)


@FAST
@given(arrays(np.float64, st.integers(1, 30), elements=st.floats(-30, 0)))
def test_perplexity_is_at_least_one_for_log_probabilities(lp):
    assert perplexity(lp) >= 1.0 - 1e-12


@settings(max_examples=50, deadline=None)
@given(
    arrays(np.float32, st.integers(2, 300), elements=st.floats(-30, 30, width=32)),
    st.integers(0, 10**6),
)
def test_token_entropy_from_logits_is_between_zero_and_log_vocab(logits, pick):
    stats = LogitStats(max_steps=1)

    class Out:
        pass

    out = Out()
    out.logits = torch.from_numpy(logits)[None, None, :]
    stats.hook(None, (), out)
    token = pick % logits.size
    stats(torch.tensor([[token]]), None)
    h = float(stats.entropy[0])
    assert -1e-5 <= h <= math.log(logits.size) + 1e-4
    ref = torch.log_softmax(torch.from_numpy(logits).double(), -1)[token]
    assert float(stats.logprob[0]) == pytest.approx(float(ref), abs=1e-4)


rows = arrays(np.float64, 30, elements=st.floats(0, 1)).filter(lambda r: r.sum() > 1e-3)
subsets = st.lists(st.integers(0, 29), min_size=1, max_size=30, unique=True)


@FAST
@given(rows, subsets, subsets, st.floats(1e-3, 1e3))
def test_masses_are_shares_and_scale_free(row, image, inner, scale):
    ev = sorted(set(inner) & set(image)) or image[:1]
    vam = visual_attention_mass(row, image)
    em = evidence_mass(row, ev)
    assert 0.0 <= em <= vam + 1e-12 <= 1.0 + 1e-12
    assert visual_attention_mass(row * scale, image) == pytest.approx(vam, rel=1e-9, abs=1e-12)


@FAST
@given(rows, subsets)
def test_patch_auroc_flips_with_the_labels(row, ev):
    mask = np.zeros(30, bool)
    mask[ev] = True
    s, flipped = patch_evidence_scores(row, mask), patch_evidence_scores(row, ~mask)
    if s.skipped is None and np.ptp(row) > 0:
        assert s.auroc + flipped.auroc == pytest.approx(1.0, abs=1e-9)
        assert 0.0 <= s.auprc <= 1.0 and 0.0 <= s.ndcg <= 1.0 + 1e-9
