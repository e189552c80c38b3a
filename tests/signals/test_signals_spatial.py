"""Spatial signals on maps whose answers are known by construction or by an independent library."""

import math

import numpy as np
import pytest
import scipy.ndimage
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vrprobe.signals.spatial import (
    cluster_count,
    early_entropy_drop,
    early_lock,
    entropy_evolution,
    late_diffusion,
    late_entropy_rise,
    layer_maps,
    mean_map,
    normalize_map,
    select_cells,
    spatial_entropy,
)

FAST = settings(max_examples=40, deadline=None)
maps = arrays(
    np.float64,
    st.tuples(st.integers(2, 12), st.integers(2, 12)),
    elements=st.one_of(st.just(0.0), st.floats(1e-6, 1)),
).filter(lambda m: m.sum() > 1e-6)


def blob_map(shape, *corners, size=3):
    m = np.zeros(shape)
    for r, c in corners:
        m[r : r + size, c : c + size] = 1.0
    return m


def ndimage_clusters(hot, min_size=3):
    """8-connected components of at least `min_size` cells: what DBSCAN(1.5, 3) must find."""
    labels, _ = scipy.ndimage.label(hot, structure=np.ones((3, 3)))
    sizes = np.bincount(labels.ravel())[1:]
    return int((sizes >= min_size).sum())


# --- normalisation and entropy ------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.zeros((3, 3)), np.full((2, 2), np.nan), [[1.0, -1.0]]])
def test_normalize_map_rejects_degenerate_maps(bad):
    with pytest.raises(ValueError):
        normalize_map(bad)


def test_normalize_map_rejects_1d():
    with pytest.raises(ValueError, match="dimension"):
        normalize_map([1.0, 2.0])


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (24, 24)])
def test_uniform_entropy_is_log_n(shape):
    assert spatial_entropy(np.full(shape, 7.0)) == pytest.approx(math.log(np.prod(shape)), abs=1e-6)


def test_one_hot_entropy_is_zero():
    m = np.zeros((24, 24))
    m[5, 7] = 3.0
    assert abs(spatial_entropy(m)) < 1e-6


def test_entropy_matches_scipy():
    rng = np.random.default_rng(0)
    m = rng.random((12, 9))
    assert spatial_entropy(m) == pytest.approx(scipy.stats.entropy(m.ravel()), abs=1e-6)


def test_entropy_of_stack_is_per_map():
    stack = np.stack([np.ones((4, 4)), blob_map((4, 4), (0, 0), size=1)])
    np.testing.assert_allclose(spatial_entropy(stack), [math.log(16), 0.0], atol=1e-6)


@FAST
@given(maps)
def test_entropy_bounds(m):
    h = spatial_entropy(m)
    assert -1e-6 <= h <= math.log(m.size) + 1e-6


# --- cell selection and clusters ------------------------------------------------------------


def test_two_blobs_one_blob_and_scatter():
    assert cluster_count(blob_map((16, 16), (1, 1), (9, 9))) == 2
    assert cluster_count(blob_map((16, 16), (5, 5))) == 1
    scattered = blob_map((16, 16), (0, 0), (0, 4), (4, 0), (8, 8), (12, 3), size=1)
    assert cluster_count(scattered) == 0


def test_fewer_than_min_samples_cells_is_zero():
    assert cluster_count(blob_map((10, 10), (3, 3), size=1)) == 0
    assert cluster_count(blob_map((10, 10), (3, 3), size=1), threshold="percentile") == 1


def test_percentile_ties_select_every_cell_rank_does_not():
    m = np.zeros((10, 10))
    m[0, 0] = m[9, 9] = m[0, 9] = 1.0  # three far-apart cells, the rest zero
    assert select_cells(m, threshold="percentile").all()
    assert cluster_count(m, threshold="percentile") == 1  # the whole grid is one blob
    hot = select_cells(m, threshold="rank")
    assert hot.sum() == 3 and hot[0, 0] and hot[9, 9] and hot[0, 9]
    assert cluster_count(m, threshold="rank") == 0


def test_rank_and_percentile_agree_without_ties():
    m = np.random.default_rng(1).permutation(np.arange(1.0, 577.0)).reshape(24, 24)
    rank, pct = select_cells(m), select_cells(m, threshold="percentile")
    np.testing.assert_array_equal(rank, pct)
    assert rank.sum() == 58  # ceil(0.1 * 576)


def test_rank_leaves_out_a_plateau_straddling_the_quota():
    m = blob_map((10, 10), (1, 1), (6, 6))  # 18 equal cells, quota 10
    assert not select_cells(m).any()
    assert select_cells(m, threshold="percentile").sum() == 18


def test_select_cells_rejects_bad_options():
    with pytest.raises(ValueError, match="threshold"):
        select_cells(np.ones((3, 3)), threshold="top")
    with pytest.raises(ValueError, match="quantile"):
        select_cells(np.ones((3, 3)), quantile=1.0)


@FAST
@given(maps, st.sampled_from(["rank", "percentile"]))
def test_clusters_match_ndimage_label(m, threshold):
    hot = select_cells(m, threshold=threshold)
    assert cluster_count(m, threshold=threshold) == ndimage_clusters(hot)


@FAST
@given(maps, st.integers(-8, 8), st.sampled_from(["rank", "percentile"]))
def test_cluster_count_invariant_to_positive_scale(m, exponent, threshold):
    # Powers of two scale exactly, so ties and order are kept bit for bit.
    scaled = m * 2.0**exponent
    assert cluster_count(scaled, threshold=threshold) == cluster_count(m, threshold=threshold)


def test_cluster_count_invariant_to_arbitrary_scale_on_continuous_map():
    m = np.random.default_rng(3).random((20, 20)) ** 4
    assert cluster_count(m * 3.7) == cluster_count(m) == cluster_count(m / 1234.5)


# --- evolution and flags ------------------------------------------------------------------


LLAVA_LIKE = [6.0, 6.0, 3.5, 3.5, 3.5, 3.5, 3.5, 3.5, 3.5, 4.5]


def test_entropy_evolution_aligned_to_layers():
    d = entropy_evolution(LLAVA_LIKE)
    assert math.isnan(d[0]) and d.shape == (10,)
    assert d[2] == pytest.approx(-2.5) and d[-1] == pytest.approx(1.0)


def test_llava_pattern_sets_both_flags():
    assert early_entropy_drop(LLAVA_LIKE) == pytest.approx(-2.5)
    assert late_entropy_rise(LLAVA_LIKE) == pytest.approx(1.0)
    assert early_lock(LLAVA_LIKE) and late_diffusion(LLAVA_LIKE)


def test_flat_profile_sets_no_flag_and_thresholds_are_parameters():
    flat = [4.0] * 8
    assert not early_lock(flat) and not late_diffusion(flat)
    small = [4.0, 3.4, 3.4, 3.4, 3.4, 3.4, 3.4, 3.7]
    assert not early_lock(small) and early_lock(small, threshold=-0.5)
    assert not late_diffusion(small) and late_diffusion(small, threshold=0.3)


def test_drop_outside_first_quarter_is_not_early_lock():
    late_drop = [5.0] * 6 + [2.0] * 6
    assert not early_lock(late_drop)


def test_flags_need_two_layers():
    with pytest.raises(ValueError, match="2 layers"):
        early_lock([3.0])


# --- building maps ------------------------------------------------------------------------


def test_layer_maps_average_heads_and_reshape_row_major():
    rows = np.zeros((2, 2, 6))
    rows[0, :, 1] = 1.0  # layer 0: all heads on token 1 -> cell (0, 1)
    rows[1, 0, 5] = 1.0  # layer 1: one head on token 5, other on token 0
    rows[1, 1, 0] = 1.0
    m = layer_maps(rows, (2, 3))
    assert m.shape == (2, 2, 3)
    assert m[0, 0, 1] == 1.0
    assert m[1, 1, 2] == 0.5 and m[1, 0, 0] == 0.5


def test_layer_maps_rejects_wrong_grid_and_empty_capture():
    with pytest.raises(ValueError, match="grid"):
        layer_maps(np.ones((2, 5)), (2, 3))
    with pytest.raises(ValueError, match="zero"):
        layer_maps(np.zeros((2, 6)), (2, 3))


def test_mean_map_weighs_layers_equally():
    stack = np.stack([blob_map((2, 2), (0, 0), size=1) * 100, np.ones((2, 2))])
    np.testing.assert_allclose(mean_map(stack), [[0.625, 0.125], [0.125, 0.125]])
