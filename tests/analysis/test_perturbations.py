"""Perturbation metrics on records whose answers are planted."""

from __future__ import annotations

import pandas as pd
import pytest

from vrprobe.analysis.perturbations import blur_summary, perturbation_table


def _rows(label, answers, correct, f1=None):
    return [
        {
            "sample_id": f"s{i}",
            "perturbation": label,
            "extracted": a,
            "correct": c,
            "f1": None if f1 is None else f1[i],
        }
        for i, (a, c) in enumerate(zip(answers, correct, strict=True))
    ]


def test_blur_decay_by_construction():
    rows = (
        _rows("none", ["a", "b", "c", "d"], [True, True, False, True])
        + _rows("blur-k1", ["a", "b", "c", "d"], [True, True, False, True])
        + _rows("blur-k5", ["a", "b", "c", "x"], [True, True, False, False])
        + _rows("blur-k61", ["a", "y", "c", "x"], [True, False, False, False])
    )
    df = pd.DataFrame(rows)
    s = blur_summary(df)
    # C = 1 for s0 and s2 (same answer at every level); s1 changes at k61, s3 at k5
    assert s["mean_C"] == 0.5 and s["n_C1"] == 2 and s["n_samples"] == 4
    assert s["accuracy_C1"] == 0.5  # s0 right, s2 wrong
    assert s["answerable_full_blur"] == 0.25 and s["full_blur_kernel"] == 61
    table = perturbation_table(df).set_index("perturbation")
    assert table.loc["blur-k5", "agreement"] == 0.75 and table.loc["blur-k61", "agreement"] == 0.5
    assert table.loc["blur-k61", "delta_accuracy"] == pytest.approx(-0.5)
    assert list(table["kernel"]) == [1, 1, 5, 61]


INSTR = [0.0, 1.0, 1.0, 1.0]


def test_highlight_deltas_vs_base_and_instruction_only():
    rows = (
        _rows("none", ["a"] * 4, [False, False, True, True], f1=[0.0, 0.5, 1.0, 1.0])
        + _rows("highlight", ["a"] * 4, [True, True, True, False], f1=[1.0, 1.0, 1.0, 0.5])
        + _rows("highlight-instruction-only", ["a"] * 4, [False, True, True, True], f1=INSTR)
        + _rows("mask-top-keys", ["a"] * 4, [False, False, False, True])
    )
    t = perturbation_table(pd.DataFrame(rows)).set_index("perturbation")
    assert t.loc["highlight", "delta_accuracy"] == pytest.approx(0.25)
    assert t.loc["highlight", "delta_f1"] == pytest.approx((3.5 - 2.5) / 4)
    assert t.loc["highlight", "delta_em_vs_instruction"] == pytest.approx(0.0)
    assert t.loc["highlight", "delta_f1_vs_instruction"] == pytest.approx((3.5 - 3.0) / 4)
    assert t.loc["mask-top-keys", "delta_accuracy"] == pytest.approx(-0.25)
    assert t.loc["mask-top-keys", "family"] == "mask"
    assert pd.isna(t.loc["mask-top-keys", "delta_em_vs_instruction"])


def test_no_blur_no_summary():
    assert blur_summary(pd.DataFrame(_rows("none", ["a"], [True]))) == {}
