"""Entropy × vision interaction per task type, the vision veto, and cross-run transfer (SPEC §2).

H = ``full_entropy``; V = ``evidence_overlap_late`` where it is defined on every item used, else
``vam`` (samples without evidence boxes have no evidence overlap). Confidence for the veto is
-H. The veto's thresholds come from a seeded half of the items (the calibration split) and its
ΔRisk is measured on the other half; symbolic items are never vetoed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from vrprobe.analysis.interaction import NAMES, bootstrap_interaction_ci, fit_interaction
from vrprobe.analysis.interaction import transfer_auroc as _transfer_auroc
from vrprobe.analysis.records import numeric
from vrprobe.analysis.selective import vision_veto

H_COL = "full_entropy"
V_COLS = ("evidence_overlap_late", "vam")
COVERAGE = 0.9


def task_types(df: pd.DataFrame) -> pd.Series:
    """Each record's task type (``visual``/``symbolic``; ``unknown`` where missing)."""
    if "task_type" not in df:
        return pd.Series("unknown", index=df.index)
    return df["task_type"].fillna("unknown").astype(str)


def choose_vision(*frames: pd.DataFrame) -> str | None:
    """First of ``V_COLS`` finite on every item (of every frame) that has H, else None."""
    for col in V_COLS:
        ok = True
        for df in frames:
            h = np.isfinite(numeric(df, H_COL))
            ok &= bool(h.any()) and bool(np.isfinite(numeric(df, col))[h].all())
        if ok:
            return col
    return None


def _hve(df: pd.DataFrame, v_col: str):
    h, v = numeric(df, H_COL), numeric(df, v_col)
    keep = np.isfinite(h) & np.isfinite(v)
    return h[keep], v[keep], 1.0 - df["correct"].to_numpy(dtype=float)[keep]


def interaction_by_task(df: pd.DataFrame, *, n_boot: int, seed: int) -> dict[str, dict]:
    """Interaction logit of errors per task type, with a bootstrap CI for β_EV."""
    out = {}
    for tt, part in df.groupby(task_types(df), sort=True):
        v_col = choose_vision(part)
        entry: dict = {"H": H_COL, "V": v_col, "n": len(part)}
        if v_col is None:
            out[tt] = {**entry, "beta_ev": None, "reason": f"no {H_COL} or vision signal"}
            continue
        h, v, err = _hve(part, v_col)
        fit = fit_interaction(h, v, err)
        boot = bootstrap_interaction_ci(h, v, err, n_boot=n_boot, seed=seed)
        entry.update(n=int(h.size), n_errors=int(err.sum()), n_boot=boot.n_boot)
        why = boot.reason and boot.reason.replace("every label is 0", "no error in this group")
        why = why and why.replace("every label is 1", "every answer is wrong")
        entry.update(beta_ev=boot.value, beta_ev_ci=boot.ci, beta_ev_p=boot.p, reason=why)
        if fit.defined:
            entry["coef"] = {
                name: {"beta": b, "se": s, "p": p, "ci": [lo, hi]}
                for name, b, s, p, (lo, hi) in zip(
                    NAMES, fit.beta, fit.se, fit.pvalues, fit.wald_ci, strict=True
                )
            }
        out[tt] = entry
    return out


def calibration_split(n: int, seed: int) -> np.ndarray:
    """Boolean mask of a seeded half of ``n`` items (floor(n/2) of them)."""
    mask = np.zeros(n, bool)
    mask[np.random.default_rng(seed).permutation(n)[: n // 2]] = True
    return mask


def veto_table(df: pd.DataFrame, *, seed: int, coverage: float = COVERAGE) -> pd.DataFrame:
    """Vision veto at ``coverage``: all items, then each task type on its own."""
    types = task_types(df).to_numpy()
    visual = types == "visual"
    v_col = choose_vision(df[visual]) if visual.any() else V_COLS[-1]
    conf = -numeric(df, H_COL)
    vision = numeric(df, v_col) if v_col else np.full(len(df), np.nan)
    keep = np.isfinite(conf) & (~visual | np.isfinite(vision))
    calib = calibration_split(len(df), seed)
    y = df["correct"].to_numpy(dtype=float)
    rows = []
    for label in ["all", *sorted(set(types))]:
        sel = keep & ((types == label) if label != "all" else True)
        row = {
            "task_type": label,
            "vision": v_col if visual[sel].any() else None,
            "n": int(sel.sum()),
            "coverage_target": coverage,
        }
        if not sel.any():
            rows.append({**row, "reason": f"no items with {H_COL}"})
            continue
        r = vision_veto(
            conf[sel], vision[sel], y[sel], visual[sel], coverage, calibration_mask=calib[sel]
        )
        dropped = r.accepted_before & ~r.accepted_after
        rows.append(
            {
                **row,
                "n_eval": int((~calib[sel]).sum()),
                "tau_v": r.tau_v,
                "tau_conf": r.tau_conf,
                "risk_before": r.risk_before,
                "risk_after": r.risk_after,
                "delta_risk": r.delta_risk,
                "n_vetoed": r.n_vetoed,
                "n_vetoed_symbolic": int((dropped & ~visual[sel]).sum()),
                "coverage": float(r.coverage),
                "reason": r.reason,
            }
        )
    return pd.DataFrame(rows)


def _combined_transfer(a: pd.DataFrame, b: pd.DataFrame, names: list[str]) -> dict:
    ok = [n for n in names if np.isfinite(numeric(b, n)).all() and np.isfinite(numeric(a, n)).all()]
    ya, yb = a["correct"].to_numpy(dtype=int), b["correct"].to_numpy(dtype=int)
    if not ok or len(set(ya)) < 2 or len(set(yb)) < 2:
        why = "no shared complete signal" if not ok else "single class in source or target"
        return {"auroc": None, "reason": why, "signals": ok}
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(np.column_stack([numeric(a, n) for n in ok]), ya)
    p = model.predict_proba(np.column_stack([numeric(b, n) for n in ok]))[:, 1]
    return {"auroc": float(roc_auc_score(yb, p)), "reason": None, "signals": ok}


def transfer_rows(source: tuple[str, pd.DataFrame], targets, combined_signals: list[str]):
    """Fit on the source run, evaluate on each target: interaction model (overall and per shared
    task type) and the combined logistic model over ``combined_signals``."""
    name_a, a = source
    rows = []
    for name_b, b in targets:
        base = {"source": name_a, "target": name_b}
        ta, tb = task_types(a), task_types(b)
        for tt in ["all", *sorted(set(ta) & set(tb))]:
            pa_, pb_ = (a, b) if tt == "all" else (a[ta == tt], b[tb == tt])
            v_col = choose_vision(pa_, pb_)
            row = {**base, "model": "interaction", "task_type": tt, "V": v_col}
            if v_col is None:
                rows.append({**row, "auroc": None, "n": len(pb_), "reason": "no shared V"})
                continue
            stat = _transfer_auroc(_hve(pa_, v_col), _hve(pb_, v_col))
            rows.append({**row, "auroc": stat.value, "n": stat.n, "reason": stat.reason})
        c = _combined_transfer(a, b, combined_signals)
        rows.append(
            {
                **base,
                "model": "combined",
                "task_type": "all",
                "V": None,
                "auroc": c["auroc"],
                "n": len(b),
                "reason": c["reason"],
                "signals": ",".join(c["signals"]),
            }
        )
    return rows
