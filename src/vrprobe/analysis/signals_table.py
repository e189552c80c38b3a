"""One row of statistics per scalar signal, risk–coverage curves, and the combined model.

Every number comes from :mod:`vrprobe.analysis.metrics` and :mod:`vrprobe.analysis.selective`;
this module picks the items where a signal has a value, orients it (higher = more reliable, per
the catalogue in :mod:`vrprobe.analysis.records`) and lays the results out as table rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from vrprobe.analysis.metrics import Stat, auroc_ci, combined_logistic_auroc, orient, point_biserial
from vrprobe.analysis.records import SIGNALS, numeric
from vrprobe.analysis.selective import aurc, risk_coverage_curve, selective_risk_at

CURVE_POINTS = 200  # risk–coverage curves are stored at most this many points per signal
COLUMNS = [
    "signal", "higher_is_reliable", "n", "n_missing", "r_pb", "r_pb_lo", "r_pb_hi", "r_pb_p",
    "auroc", "auroc_lo", "auroc_hi", "aurc", "risk_at_90", "risk_at_80", "reason",
]  # fmt: skip


def _ci(stat: Stat, i: int) -> float | None:
    return None if stat.ci is None else stat.ci[i]


def signal_row(name: str, values: np.ndarray, correct: np.ndarray, *, n_boot: int, seed: int):
    """Statistics of one signal on the items where it is finite (see module doc)."""
    higher, _ = SIGNALS[name]
    have = np.isfinite(values)
    o = orient(values[have], higher)
    y = correct[have].astype(float)
    au = auroc_ci(o, y, n_boot=n_boot, seed=seed)
    rpb = point_biserial(o, y)
    ar = aurc(o.values, y)
    r90, r80 = selective_risk_at(o.values, y, 0.9), selective_risk_at(o.values, y, 0.8)
    return {
        "signal": name,
        "higher_is_reliable": higher,
        "n": int(have.sum()),
        "n_missing": int((~have).sum()),
        "r_pb": rpb.value,
        "r_pb_lo": _ci(rpb, 0),
        "r_pb_hi": _ci(rpb, 1),
        "r_pb_p": rpb.p,
        "auroc": au.value,
        "auroc_lo": _ci(au, 0),
        "auroc_hi": _ci(au, 1),
        "aurc": ar.value,
        "risk_at_90": r90.value,
        "risk_at_80": r80.value,
        "reason": au.reason or rpb.reason or ar.reason,
    }


def unavailable_reason(df: pd.DataFrame, name: str) -> str | None:
    """Why a catalogued signal has no value on any item, or None when it has some."""
    why = SIGNALS[name][1]
    if name not in df:
        return f"column absent: {why}"
    if not np.isfinite(numeric(df, name)).any():
        return f"all values null: {why}"
    return None


def signal_table(df: pd.DataFrame, *, n_boot: int, seed: int) -> tuple[pd.DataFrame, dict]:
    """(one row per available signal, {unavailable signal: reason})."""
    y = df["correct"].to_numpy(dtype=bool)
    rows, missing = [], {}
    for name in SIGNALS:
        why = unavailable_reason(df, name)
        if why:
            missing[name] = why
        else:
            rows.append(signal_row(name, numeric(df, name), y, n_boot=n_boot, seed=seed))
    return pd.DataFrame(rows, columns=COLUMNS), missing


def risk_coverage_table(df: pd.DataFrame, signals: list[str]) -> pd.DataFrame:
    """Long table (signal, coverage, risk), each curve thinned to ``CURVE_POINTS`` points."""
    y = df["correct"].to_numpy(dtype=float)
    parts = []
    for name in signals:
        v = numeric(df, name)
        have = np.isfinite(v)
        rc = risk_coverage_curve(orient(v[have], SIGNALS[name][0]).values, y[have])
        if not rc.defined:
            continue
        keep = np.unique(np.linspace(0, rc.coverage.size - 1, CURVE_POINTS).round().astype(int))
        parts.append(
            pd.DataFrame({"signal": name, "coverage": rc.coverage[keep], "risk": rc.risk[keep]})
        )
    if not parts:
        return pd.DataFrame({"signal": [], "coverage": [], "risk": []})
    return pd.concat(parts, ignore_index=True)


def combined_inputs(df: pd.DataFrame, table: pd.DataFrame) -> list[str]:
    """Signals for the combined model: a finite, non-constant value on every item."""
    names = []
    for name in table["signal"]:
        v = numeric(df, name)
        if np.isfinite(v).all() and np.ptp(v) > 0:
            names.append(name)
    return names


def combined_model(df: pd.DataFrame, names: list[str], *, folds: int = 5, seed: int = 0):
    """(summary dict, out-of-fold P(correct) per item or None) of the logistic model on ``names``.

    The AUROC is :func:`combined_logistic_auroc`; the probabilities come from the same pipeline
    and folds through ``cross_val_predict`` (for the reliability diagram).
    """
    y = df["correct"].to_numpy(dtype=int)
    if not names:
        return {"auroc": None, "reason": "no signal is defined on every item", "signals": []}, None
    X = np.column_stack([numeric(df, n) for n in names])
    stat = combined_logistic_auroc(X, y, folds=folds, seed=seed)
    out = {"auroc": stat.value, "reason": stat.reason, "n": stat.n, "signals": names}
    if not stat.defined:
        return out, None
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    proba = cross_val_predict(model, X, y, cv=cv, method="predict_proba")[:, 1]
    return out, proba
