"""analyze_runs on a synthetic run: every statistic cross-checked against a direct library call."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats
from sklearn.metrics import roc_auc_score

from tests.report.fake_run import make_fake_run
from vrprobe.analysis import records as records_mod
from vrprobe.analysis.analyze import analyze_runs
from vrprobe.analysis.guards import veto_table
from vrprobe.analysis.interaction import transfer_auroc
from vrprobe.analysis.metrics import combined_logistic_auroc
from vrprobe.store.shards import read_shards, write_shard

N_BOOT = 30


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two fake runs (the first with blur levels), analysed together once."""
    root = tmp_path_factory.mktemp("runs")
    a = make_fake_run(root / "a", blur=True)
    b = make_fake_run(root / "b", seed=1, n_errors=0)
    out = analyze_runs([a, b], n_boot=N_BOOT)
    return a, b, out


def _raw(run) -> pd.DataFrame:
    """Records read straight with pyarrow: answered, unperturbed."""
    df = read_shards(run / "records").to_pandas()
    df = df[df["error"].isna() & (df["perturbation"] == "none")].reset_index(drop=True)
    return df.astype({"correct": bool})


def _analysis(run, name):
    return pd.read_parquet(run / "analysis" / name)


def test_signal_table_matches_libraries(runs):
    a, _, _ = runs
    raw, table = _raw(a), _analysis(a, "signals.parquet")
    assert {"sc_share", "spatial_entropy", "full_entropy", "evidence_overlap_late"} <= set(
        table["signal"]
    )
    for row in table.itertuples():
        v = pd.to_numeric(raw[row.signal], errors="coerce").to_numpy(float)
        have = np.isfinite(v)
        s = v[have] if row.higher_is_reliable else -v[have]
        y = raw["correct"].to_numpy(bool)[have]
        assert row.n == have.sum() and row.n_missing == (~have).sum()
        assert row.auroc == pytest.approx(roc_auc_score(y, s))
        assert row.auroc_lo <= row.auroc <= row.auroc_hi
        r, p = stats.pointbiserialr(y, s)
        assert row.r_pb == pytest.approx(r) and row.r_pb_p == pytest.approx(p)
        if np.unique(s).size == s.size:  # no ties: brute-force selective risk
            err = ~y[np.argsort(-s)]
            risks = np.cumsum(err) / np.arange(1, s.size + 1)
            assert row.aurc == pytest.approx(risks.mean())
            assert row.risk_at_90 == pytest.approx(risks[math.ceil(0.9 * s.size) - 1])
            assert row.risk_at_80 == pytest.approx(risks[math.ceil(0.8 * s.size) - 1])


def test_planted_signals(runs):
    a, _, _ = runs
    table = _analysis(a, "signals.parquet").set_index("signal")
    assert table.loc["sc_share", "auroc"] == 1.0  # equal to correctness
    assert table.loc["sc_share", "r_pb"] == pytest.approx(1.0)
    noise = table.loc["spatial_entropy"]
    assert abs(noise["auroc"] - 0.5) < 0.1 and noise["r_pb_p"] > 0.01  # independent noise
    assert not table.loc["full_entropy", "higher_is_reliable"]
    assert table.loc["sc_share", "higher_is_reliable"]
    assert table.loc["evidence_overlap_late", "n"] == 200  # symbolic items have no boxes


def test_errors_excluded_and_counted(runs):
    a, b, out = runs
    s = out["runs"][str(a)]
    assert s["n_errors"] == 3 and s["analysis_subset"]["n"] == 300
    assert s["accuracy"] == pytest.approx(_raw(a)["correct"].mean())
    assert json.loads((a / "analysis" / "summary.json").read_text()) == s
    assert out["runs"][str(b)]["n_errors"] == 0


def test_combined_model_and_predictions(runs):
    a, _, out = runs
    comb, raw = out["runs"][str(a)]["combined"], _raw(a)
    X = raw[comb["signals"]].to_numpy(float)
    assert comb["auroc"] == pytest.approx(combined_logistic_auroc(X, raw["correct"]).value)
    preds = _analysis(a, "predictions.parquet")
    assert preds["p_combined"].between(0, 1).all() and len(preds) == 300
    assert np.allclose(preds["p_logprob"], np.exp(raw["mean_logprob"]))


def test_layer_profiles(runs):
    a, _, _ = runs
    raw, layers = _raw(a), _analysis(a, "layers.parquet")
    ev = layers[layers["metric"] == "layer_rapt_evidence"].pivot(
        index="layer", columns="group", values="mean"
    )
    assert (ev.loc[3:, "right"] > ev.loc[3:, "wrong"]).all()  # planted in the deep half
    ent = np.stack(raw["layer_entropy"].to_numpy())
    right = layers[(layers["metric"] == "layer_entropy") & (layers["group"] == "right")]
    assert np.allclose(right["mean"], ent[raw["correct"]].mean(axis=0))
    steps = _analysis(a, "steps.parquet")
    em = steps[(steps["metric"] == "step_evidence_mass") & (steps["group"] == "wrong")]
    assert len(em) == 10 and em["mean"].iloc[0] > em["mean"].iloc[-1]


def test_interaction_recovers_planted_sign(runs):
    a, _, out = runs
    inter = out["runs"][str(a)]["interaction"]
    vis, sym = inter["visual"], inter["symbolic"]
    assert vis["V"] == "evidence_overlap_late" and sym["V"] == "vam"
    assert vis["beta_ev"] > 0 and vis["beta_ev_ci"][0] > 0
    raw = _raw(a)
    part = raw[raw["task_type"] == "visual"]
    h, v = part["full_entropy"].to_numpy(float), part["evidence_overlap_late"].to_numpy(float)
    zh, zv = (h - h.mean()) / h.std(), (v - v.mean()) / v.std()
    X = np.column_stack([np.ones_like(zh), zh, zv, zh * zv])
    res = sm.Logit((~part["correct"]).to_numpy(float), X).fit(disp=0)
    assert vis["beta_ev"] == pytest.approx(res.params[3], rel=1e-6)


def test_veto_never_touches_symbolic(runs):
    a, _, _ = runs
    veto = _analysis(a, "veto.parquet").set_index("task_type")
    assert (veto["n_vetoed_symbolic"] == 0).all()
    assert veto.loc["symbolic", "n_vetoed"] == 0 and veto.loc["symbolic", "delta_risk"] == 0
    assert veto.loc["all", "n_eval"] == 150  # the other half of the seeded split
    # adversarial: symbolic items the most confident and the blindest of all
    raw = _raw(a)
    sym = raw["task_type"] == "symbolic"
    raw.loc[sym, "full_entropy"] = -10.0 - np.arange(sym.sum()) * 1e-3
    raw.loc[sym, "vam"] = 0.0
    raw.loc[~sym, "evidence_overlap_late"] = np.linspace(0, 1, (~sym).sum())
    table = veto_table(raw, seed=3).set_index("task_type")
    assert (table["n_vetoed_symbolic"] == 0).all() and table.loc["symbolic", "n_vetoed"] == 0
    assert table.loc["all", "n_vetoed"] > 0  # the veto is active, on visual items only


def test_transfer_in_first_run_only(runs):
    a, b, out = runs
    transfer = _analysis(a, "transfer.parquet")
    assert not (b / "analysis" / "transfer.parquet").exists()
    row = transfer[(transfer["model"] == "interaction") & (transfer["task_type"] == "visual")]
    ra, rb = _raw(a), _raw(b)

    def hve(df):
        df = df[df["task_type"] == "visual"]
        cols = ("full_entropy", "evidence_overlap_late")
        return (*(df[c].to_numpy(float) for c in cols), (~df["correct"]).to_numpy(float))

    assert row["auroc"].item() == pytest.approx(transfer_auroc(hve(ra), hve(rb)).value)
    assert set(transfer["model"]) == {"interaction", "combined"}
    assert out["runs"][str(a)]["transfer"]


def test_blur_levels(runs):
    a, _, _ = runs
    pert = _analysis(a, "perturbations.parquet").set_index("perturbation")
    df = read_shards(a / "records").to_pandas()
    df = df[df["error"].isna()]
    direct = df.groupby("perturbation")["correct"].mean()
    assert list(pert["kernel"]) == [1, 5, 15, 61]
    for label, acc in direct.items():
        assert pert.loc[label, "accuracy"] == pytest.approx(acc)
    assert pert.loc["none", "agreement"] == 1.0 and pert.loc["blur-k61", "agreement"] < 1.0


def test_headline_rows(runs):
    _, _, out = runs
    rows = out["headline"]
    assert rows[0]["signal"] == "sc_share" and rows[0]["AUROC [95% CI]"].startswith("1.000 [")
    assert {r["run"] for r in rows} == {"a", "b"}
    assert all(isinstance(v, str) for r in rows for v in r.values())


def test_all_correct_is_undefined_not_a_crash(tmp_path):
    run = make_fake_run(tmp_path / "ok", n=60, all_correct=True)
    s = analyze_runs([run], n_boot=5)["runs"][str(run)]
    assert s["accuracy"] == 1.0
    for row in s["signals"]:
        assert row["auroc"] is None and row["reason"] == "single class (every label is 1)"
        assert row["aurc"] == 0.0  # selective risk stays defined
    assert s["combined"]["auroc"] is None and "single class" in s["combined"]["reason"]
    assert all(e["beta_ev"] is None and e["reason"] for e in s["interaction"].values())
    head = analyze_runs([run], n_boot=5)["headline"]
    assert head[0]["AUROC [95% CI]"].startswith("undefined: single class")


def test_runs_without_signals_or_answers(tmp_path):
    bare = make_fake_run(tmp_path / "bare", n=20)
    table = read_shards(bare / "records")
    keep = ["item_key", "sample_id", "task", "perturbation", "question_type", "task_type"]
    keep += ["prediction", "correct", "error"]
    for p in (bare / "records").glob("*.parquet"):
        p.unlink()
    write_shard(bare / "records", table.select(keep).to_pylist())
    s = analyze_runs([bare], n_boot=5)["runs"][str(bare)]
    assert s["signals"] == []
    assert s["unavailable"]["sc_share"].startswith("column absent: no sampled")
    assert s["unavailable"]["evidence_overlap_late"].endswith("no evidence boxes for these samples")
    empty = make_fake_run(tmp_path / "errors-only", n=0, n_errors=2)
    s = analyze_runs([empty], n_boot=5)["runs"][str(empty)]
    assert s["n_errors"] == 2 and s["accuracy"] is None and s["signals"] == []


def test_idempotent(tmp_path):
    run = make_fake_run(tmp_path / "r", n=90)
    other = make_fake_run(tmp_path / "o", n=60, seed=2)
    analyze_runs([run, other], n_boot=5)
    (run / "analysis" / "probes.parquet").write_bytes(b"not ours")
    first = analyze_runs([run], n_boot=10)
    folder = run / "analysis"
    assert not (folder / "transfer.parquet").exists()  # stale output of the earlier call
    assert (folder / "probes.parquet").read_bytes() == b"not ours"
    files = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert analyze_runs([run], n_boot=10) == first
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == files  # byte for byte


def test_atomic_failure_keeps_previous_files(tmp_path, monkeypatch):
    run = make_fake_run(tmp_path / "r", n=60)
    analyze_runs([run], n_boot=5)
    folder = run / "analysis"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    real, calls = records_mod.pq.write_table, []

    def flaky(table, where, **kw):
        calls.append(where)
        if len(calls) == 3:
            real(table.slice(0, 1), where, **kw)  # half a file on disk, then the crash
            raise OSError("disk full")
        real(table, where, **kw)

    monkeypatch.setattr(records_mod.pq, "write_table", flaky)
    with pytest.raises(OSError, match="disk full"):
        analyze_runs([run], n_boot=7)
    assert all(str(c).endswith(".tmp") for c in calls)  # never written in place
    after = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert after.keys() == before.keys()  # no temporary left behind
    assert after["summary.json"] == before["summary.json"]  # still the finished analysis


def test_constant_and_rounding_level_signals_are_undefined_in_the_table(tmp_path):
    run = make_fake_run(tmp_path / "flat", n=60)
    table = read_shards(run / "records")
    rows = table.to_pylist()
    for i, row in enumerate(rows):
        row["cluster_count"] = 3.0
        row["spatial_entropy"] = 2.0 + (3e-15 if i % 2 else 0.0)
    for p in (run / "records").glob("*.parquet"):
        p.unlink()
    write_shard(run / "records", rows)
    s = analyze_runs([run], n_boot=5)["runs"][str(run)]
    by = {r["signal"]: r for r in s["signals"]}
    assert by["cluster_count"]["auroc"] is None
    assert by["cluster_count"]["reason"] == "constant signal"
    assert by["spatial_entropy"]["auroc"] is None
    assert by["spatial_entropy"]["reason"].startswith("constant signal (spread at rounding")
    assert by["full_entropy"]["auroc"] is not None  # the other signals are unaffected
