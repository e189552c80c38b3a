"""analysis.interventions: per-setting accuracy, paired deltas and CIs, checked by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from scipy import stats

from tests.analysis.fake_interventions import add_interventions
from tests.report.fake_run import make_fake_run
from vrprobe.analysis.analyze import analyze_runs
from vrprobe.analysis.interventions import bootstrap_mean_ci, intervention_table
from vrprobe.store.shards import write_shard

CLEAN = pd.DataFrame(
    {
        "sample_id": ["s0", "s1", "s2", "s3"],
        "perturbation": ["none"] * 4,
        "correct": [True, True, False, True],
        "extracted": ["red", "red", "blue", "red"],
    }
)


def test_table_matches_a_hand_computation(tmp_path):
    add_interventions(
        tmp_path,
        {
            "dims-L1-top-k2": {"s0": False, "s1": True, "s2": False, "s3": False},
            "dims-L1-random-s0-k2": {"s0": True, "s1": True, "s2": True, "s3": True, "s9": True},
            "dims-L1-top-k0": dict(zip(CLEAN["sample_id"], CLEAN["correct"], strict=True)),
        },
        "dims",
    )
    error = {
        "item_key": "e",
        "sample_id": "s5",
        "perturbation": "dims-L1-top-k2",
        "setting": "dims-L1-top-k2",
        "kind": "dims",
        "error": "boom",
        "correct": None,
    }
    write_shard(tmp_path / "interventions" / "dims" / "records", [error])
    table = intervention_table(tmp_path, CLEAN, n_boot=200, seed=0).set_index("setting")
    top, rnd, k0 = (
        table.loc[s] for s in ("dims-L1-top-k2", "dims-L1-random-s0-k2", "dims-L1-top-k0")
    )
    assert (top["n"], top["n_errors"], top["n_paired"]) == (4, 1, 4)
    assert top["accuracy"] == 0.25 and top["clean_accuracy"] == 0.75
    assert top["delta_accuracy"] == pytest.approx(-0.5) and top["agreement"] == 0.5
    assert (top["layer"], top["rank"], top["k"], top["fraction"]) == (1, "top", 2, 2 / 128)
    assert (rnd["n"], rnd["n_paired"], rnd["accuracy"]) == (5, 4, 1.0)
    assert rnd["delta_accuracy"] == pytest.approx(0.25) and rnd["agreement"] == 0.75
    assert rnd["seed"] == 0 and pd.isna(top["seed"])
    # k = 0 equals clean: zero change, a degenerate CI, full agreement
    assert (k0["delta_accuracy"], k0["delta_lo"], k0["delta_hi"], k0["agreement"]) == (0, 0, 0, 1)
    for row in (top, rnd):
        assert row["accuracy_lo"] <= row["accuracy"] <= row["accuracy_hi"]
        assert row["delta_lo"] <= row["delta_accuracy"] <= row["delta_hi"]


def test_bootstrap_ci_agrees_with_scipy():
    x = (np.random.default_rng(3).random(40) < 0.6).astype(float)
    lo, hi = bootstrap_mean_ci(x, 4000, seed=0)
    ref = stats.bootstrap((x,), np.mean, method="percentile", n_resamples=4000, random_state=1)
    assert lo == pytest.approx(ref.confidence_interval.low, abs=0.03)
    assert hi == pytest.approx(ref.confidence_interval.high, abs=0.03)


def test_analyze_writes_the_table_only_when_there_are_interventions(tmp_path):
    run = make_fake_run(tmp_path / "run", n=30, n_errors=0)
    summary = analyze_runs([run], n_boot=10)["runs"][str(run)]
    assert not (run / "analysis" / "interventions.parquet").exists()
    assert "interventions" not in summary
    sids = [f"s{i}" for i in range(30)]
    add_interventions(run, {"heads-L0-h1": dict.fromkeys(sids, False)}, "heads")
    summary = analyze_runs([run], n_boot=10)["runs"][str(run)]
    table = pq.read_table(run / "analysis" / "interventions.parquet").to_pandas()
    clean = summary["accuracy"]
    assert summary["interventions"] == {"heads": 1} and len(table) == 1
    assert table["accuracy"].iloc[0] == 0 and table["n_paired"].iloc[0] == 30
    assert table["delta_accuracy"].iloc[0] == pytest.approx(-clean)
