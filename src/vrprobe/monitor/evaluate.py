"""How good a calibration is on another run: risk AUROC vs single signals, selective risk, veto.

Every item of the evaluation run goes through :func:`vrprobe.monitor.decide.decide` with its
recorded signals and hidden state, i.e. what a live check on that item would return (the
check recomputes the same signals in the same generate pass). Statistics come from
:mod:`vrprobe.analysis.metrics` and :mod:`vrprobe.analysis.selective`.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from vrprobe.analysis.metrics import auroc
from vrprobe.analysis.probe_table import _stack
from vrprobe.analysis.records import SIGNALS, numeric
from vrprobe.analysis.selective import selective_risk_at
from vrprobe.monitor.calibration import LIVE, Calibration, load_clean
from vrprobe.monitor.decide import decide
from vrprobe.store.shards import read_shards


def probe_logits(cal: Calibration, run: Path, keys: pd.Series) -> np.ndarray:
    """The calibration probe's decision value on each record (NaN without a probe)."""
    if cal.probe is None or cal.probe_scorer is None:
        return np.full(len(keys), np.nan)
    col = f"hidden_{cal.probe['position']}"
    table = read_shards(Path(run) / "records", ["item_key", col])
    table = table.filter(table.column(col).is_valid())
    where = {k: i for i, k in enumerate(table.column("item_key").to_pylist())}
    hidden = _stack(table.column(col))[:, cal.probe["layer"]]
    out = np.full(len(keys), np.nan)
    have = [i for i, k in enumerate(keys) if k in where]
    out[have] = cal.probe_scorer.logit(hidden[[where[keys.iloc[i]] for i in have]])
    return out


def score_run(cal: Calibration, run: Path, samples: int = 0) -> pd.DataFrame:
    """One row per clean record: correct, task_type, risk, veto, accepted, live signals.

    ``samples`` > 0 scores with the calibration's self-consistency risk model (when it has one).
    """
    df = load_clean(run)
    logits = probe_logits(cal, run, df["item_key"])
    known = set(cal.veto)
    rows = []
    for i, rec in enumerate(df.to_dict("records")):
        tt = str(rec.get("task_type") or "unknown")
        if tt not in known:
            continue
        v = decide(cal, rec, logits[i], tt, samples)
        rows.append(
            {
                "item_key": rec["item_key"],
                "correct": bool(rec["correct"]),
                "task_type": tt,
                "risk": v.risk,
                "vetoed": v.veto.vetoed,
                "accepted": v.accepted,
                "p_error_interaction": v.p_error_interaction,
                **{s: rec.get(s) for s in LIVE if s in df},
            }
        )
    return pd.DataFrame(rows)


def paired_auroc_delta(
    a: np.ndarray, b: np.ndarray, correct: np.ndarray, n_boot: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """95% percentile-bootstrap CI of AUROC(a) - AUROC(b) (both oriented higher = reliable)
    over items resampled jointly, stratified by class."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    y = correct.astype(int)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    deltas = []
    for _ in range(n_boot):
        idx = np.concatenate([rng.choice(pos, pos.size), rng.choice(neg, neg.size)])
        deltas.append(roc_auc_score(y[idx], a[idx]) - roc_auc_score(y[idx], b[idx]))
    lo, hi = np.quantile(deltas, [0.025, 0.975])
    return float(lo), float(hi)


def _selective_with_veto(conf: np.ndarray, vetoed: np.ndarray, y: np.ndarray, coverage: float):
    """(risk before, risk after, n vetoed in the accepted set) at ``coverage``: accept the most
    confident ceil(coverage·N); after = drop vetoed ones and refill with the next most
    confident non-vetoed (as :func:`vrprobe.analysis.selective.vision_veto`)."""
    k = max(1, math.ceil(coverage * y.size - 1e-9))
    order = np.argsort(-conf, kind="stable")
    before = order[:k]
    after = order[~vetoed[order]][:k]
    return float(1 - y[before].mean()), float(1 - y[after].mean()), int(vetoed[before].sum())


def evaluate(cal: Calibration, run: Path, coverage: float = 0.9, samples: int = 0) -> dict:
    """Risk AUROC vs each live signal's, and selective risk on visual items with/without veto."""
    scored = score_run(cal, run, samples)
    y = scored["correct"].to_numpy(dtype=float)
    risk_auroc = auroc(scored["risk"].to_numpy(), y, higher_is_reliable=False)
    singles = {}
    for name in LIVE:
        v = numeric(scored, name)
        if np.isfinite(v).all():
            singles[name] = auroc(v, y, higher_is_reliable=SIGNALS[name][0]).value
    chosen = cal.signals[0]["signal"] if cal.signals else None
    best_eval = max((k for k in singles if singles[k] is not None), key=lambda k: singles[k])
    delta_ci = None
    if chosen in singles:
        best = numeric(scored, chosen) * (1 if SIGNALS[chosen][0] else -1)
        delta_ci = paired_auroc_delta(-scored["risk"].to_numpy(), best, y)
    vis = scored["task_type"].to_numpy() == "visual"
    yv, vetoed = y[vis], scored["vetoed"].to_numpy(bool)[vis]
    selective = {}
    for label, conf in (
        ("-full_entropy", -numeric(scored, "full_entropy")[vis]),
        ("-risk", -scored["risk"].to_numpy()[vis]),
    ):
        before, after, n_vetoed = _selective_with_veto(conf, vetoed, yv, coverage)
        plain = selective_risk_at(conf, yv, coverage).value
        selective[label] = {
            "risk_no_veto": before,
            "risk_no_veto_tie_avg": plain,
            "risk_veto": after,
            "delta": after - before,
            "n_vetoed_in_accepted": n_vetoed,
        }
    return {
        "n": len(scored),
        "risk_features": list(cal.risk_model(samples).features),
        "n_visual": int(vis.sum()),
        "accuracy": float(y.mean()),
        "monitor_risk_auroc": risk_auroc.value,
        "best_signal_on_calibration": chosen,
        "best_signal_on_calibration_auroc": singles.get(chosen),
        "delta_auroc_vs_best_ci95": delta_ci,
        "best_signal_in_hindsight": best_eval,
        "best_signal_in_hindsight_auroc": singles[best_eval],
        "signal_aurocs": singles,
        "coverage": coverage,
        "n_vetoed_visual": int(vetoed.sum()),
        "selective_visual": selective,
    }
