"""Learn from a finished run what predicts this model's errors: the monitor's calibration.

From the run's records (unperturbed, answered, scored; see :mod:`vrprobe.analysis.records`):

- **signals**: every *live* signal (one a check can compute: no evidence boxes, no labels)
  ranked by AUROC on the run (:func:`vrprobe.analysis.metrics.auroc`, oriented by the catalogue);
- **probe**: logistic correctness probe on the hidden state at the most predictive (position,
  layer) by stratified 5-fold CV AUROC (:func:`vrprobe.analysis.probes.layer_probe_auroc`), then
  fit on every record;
- **risk model**: logistic regression of *error* on the top signals (near-duplicates dropped:
  |Spearman ρ| > 0.95 with one already chosen) and the probe's out-of-fold logit, so the
  stacker never sees a probe score fit on its own item; which of the nested feature sets
  (top 1..k signals, ± probe) is used is chosen by 5-fold CV AUROC on the run
  (:mod:`vrprobe.monitor.risk_select`); a second model adds the self-consistency signal when
  the run has it (``--samples K``);
- **interaction** per task type: SPEC §2's logit of error on z(H), z(V), z(H)·z(V)
  (:func:`vrprobe.analysis.interaction.fit_interaction`), H = full-response entropy, V = VAM
  (live requests have no evidence boxes, so not the evidence overlap);
- **veto** per task type: on ``visual`` types τ_V = 10% quantile of V and τ_conf = median of
  −H over that type's records, exactly as :func:`vrprobe.analysis.selective.vision_veto` draws
  them; ``symbolic`` types are never vetoed;
- **accept threshold**: the risk at 90% coverage on the run (in-sample).

Numpy/scikit-learn/statsmodels only; no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from vrprobe.analysis.interaction import fit_interaction
from vrprobe.analysis.metrics import auroc
from vrprobe.analysis.records import (
    EVIDENCE,
    SIGNALS,
    clean_subset,
    load_records,
    numeric,
    split_errors,
)
from vrprobe.monitor.linear import LinearScorer, fit_logistic
from vrprobe.monitor.probe_fit import fit_probe
from vrprobe.monitor.risk_select import candidate_sets, select_features

H_COL, V_COL = "full_entropy", "vam"
SAMPLED = ("sc_share", "sc_distinct", "sc_entropy")
#: signals a live check can compute (no evidence boxes, no correctness label)
LIVE = tuple(name for name, (_, why) in SIGNALS.items() if why != EVIDENCE)
TAU_QUANTILE, CONF_QUANTILE, COVERAGE = 0.1, 0.5, 0.9
PROBE = "probe"  # feature name of the probe's logit in the risk model


class CalibrationError(ValueError):
    """A run cannot be calibrated on; the message says why."""


@dataclass(frozen=True, eq=False)
class RiskModel:
    """Logistic P(error) on ``features`` (signal names and/or ``PROBE``); ``samples`` = K the
    self-consistency features assume (0 = none)."""

    features: tuple[str, ...]
    scorer: LinearScorer
    samples: int = 0
    selection: tuple[dict, ...] = ()  # every candidate feature set tried, with its CV AUROC

    def to_json(self) -> dict:
        return {
            "features": list(self.features),
            "samples": self.samples,
            "selection": list(self.selection),
            **self.scorer.to_json(),
        }

    @classmethod
    def from_json(cls, d: dict) -> RiskModel:
        sel = tuple(d.get("selection", ()))
        return cls(tuple(d["features"]), LinearScorer.from_json(d), int(d["samples"]), sel)


@dataclass(frozen=True, eq=False)
class Calibration:
    """Everything a monitor needs, as plain data (see :mod:`vrprobe.monitor.files`)."""

    model: dict[str, Any]  # name, revision, n_layers (L+1 hidden states), hidden_size
    run: dict[str, Any]  # path, fingerprint, task, split, n, accuracy
    generation: dict[str, Any]  # max_new_tokens, temperature, top_p
    signals: list[dict]  # live signals ranked by AUROC: signal, auroc, higher_is_reliable, n
    risk: list[RiskModel]  # [without sampling, (with sampling)]
    probe: dict[str, Any] | None  # position, layer, cv_auroc, layer_aurocs
    probe_scorer: LinearScorer | None
    interaction: dict[str, dict]  # task type -> H, V, beta, scaling, n, reason
    veto: dict[str, dict]  # task type -> kind, V, tau_v, tau_conf, n, reason
    accept: dict[str, float | None] = field(default_factory=dict)  # coverage, risk_threshold

    @property
    def task_types(self) -> tuple[str, ...]:
        """Task types the calibration knows (a check must name one of them)."""
        return tuple(self.veto)

    def risk_model(self, samples: int) -> RiskModel:
        """The model with self-consistency features when ``samples`` > 0 and one exists."""
        if samples > 0 and len(self.risk) > 1:
            return self.risk[1]
        return self.risk[0]


def _distinct(df: pd.DataFrame, ranked: list[dict], top_k: int, pool: tuple[str, ...]):
    chosen: list[str] = []
    for row in ranked:
        name = row["signal"]
        if name not in pool or row["auroc"] is None or len(chosen) >= top_k:
            continue
        v = numeric(df, name)
        if not np.isfinite(v).all() or np.ptp(v) == 0:
            continue
        dup = any(abs(spearmanr(v, numeric(df, c)).statistic) > 0.95 for c in chosen)
        if not dup:
            chosen.append(name)
    return chosen


def rank_signals(df: pd.DataFrame) -> list[dict]:
    """Live signals present in ``df``, best AUROC (higher = more reliable) first."""
    y = df["correct"].to_numpy(dtype=float)
    rows = []
    for name in LIVE:
        v = numeric(df, name)
        ok = np.isfinite(v)
        if not ok.any():
            continue
        stat = auroc(v[ok], y[ok], higher_is_reliable=SIGNALS[name][0])
        rows.append(
            {
                "signal": name,
                "auroc": stat.value,
                "reason": stat.reason,
                "higher_is_reliable": SIGNALS[name][0],
                "n": int(ok.sum()),
            }
        )
    return sorted(rows, key=lambda r: -(r["auroc"] if r["auroc"] is not None else -1.0))


def _interaction(df: pd.DataFrame, types: pd.Series) -> dict[str, dict]:
    out = {}
    for tt in sorted(set(types)):
        part = df[types == tt]
        h, v = numeric(part, H_COL), numeric(part, V_COL)
        keep = np.isfinite(h) & np.isfinite(v)
        err = 1.0 - part["correct"].to_numpy(dtype=float)[keep]
        fit = fit_interaction(h[keep], v[keep], err)
        out[tt] = {
            "H": H_COL,
            "V": V_COL,
            "n": int(keep.sum()),
            "reason": fit.reason,
            "beta": None if fit.beta is None else [float(b) for b in fit.beta],
            "scaling": None if fit.scaling is None else list(fit.scaling),
        }
    return out


def _veto(df: pd.DataFrame, types: pd.Series) -> dict[str, dict]:
    out = {}
    for tt in sorted(set(types)):
        part = df[types == tt]
        conf, v = -numeric(part, H_COL), numeric(part, V_COL)
        keep = np.isfinite(conf) & np.isfinite(v)
        entry = {
            "kind": tt,
            "V": V_COL,
            "confidence": f"-{H_COL}",
            "n": int(keep.sum()),
            "tau_quantile": TAU_QUANTILE,
            "conf_quantile": CONF_QUANTILE,
            "tau_v": None,
            "tau_conf": None,
            "reason": None,
        }
        if tt != "visual":
            entry["reason"] = f"task type {tt!r} is not visual-reference: never vetoed"
        elif not keep.any():
            entry["reason"] = f"no record of this task type has {H_COL} and {V_COL}"
        else:
            entry["tau_v"] = float(np.quantile(v[keep], TAU_QUANTILE))
            entry["tau_conf"] = float(np.quantile(conf[keep], CONF_QUANTILE))
        out[tt] = entry
    return out


def risk_features(df: pd.DataFrame, features: tuple[str, ...], probe_logit) -> np.ndarray:
    """(n, d) matrix of the risk model's inputs from records (probe column = ``probe_logit``)."""
    cols = [np.asarray(probe_logit, float) if f == PROBE else numeric(df, f) for f in features]
    return np.column_stack(cols) if cols else np.empty((len(df), 0))


def load_clean(run: Path) -> pd.DataFrame:
    """Answered, scored, unperturbed records of ``run``; CalibrationError if unusable."""
    if not (Path(run) / "manifest.json").is_file():
        raise CalibrationError(f"{run} is not a run folder (no manifest.json)")
    df, _ = clean_subset(split_errors(load_records(Path(run)))[0])
    if len(df) < 20:
        raise CalibrationError(f"{run}: {len(df)} answered records; calibration needs >= 20")
    y = df["correct"].to_numpy(dtype=bool)
    if y.all() or not y.any():
        raise CalibrationError(f"{run}: every answer is {'right' if y.all() else 'wrong'}")
    return df


def fit_calibration(run: Path, manifest: dict, *, top_k: int = 3, seed: int = 0) -> Calibration:
    """Calibrate on the finished run folder ``run`` (its ``manifest`` already read)."""
    df = load_clean(run)
    y = df["correct"].to_numpy(dtype=float)
    types = df["task_type"].fillna("unknown").astype(str) if "task_type" in df else None
    types = types if types is not None else pd.Series("unknown", index=df.index)
    ranked = rank_signals(df)
    info, probe_scorer, oof = fit_probe(run, df["item_key"], y, seed)
    base = tuple(_distinct(df, ranked, top_k, tuple(s for s in LIVE if s not in SAMPLED)))
    k = int(manifest.get("config", {}).get("samples") or 0)
    sampled = [s for s in SAMPLED if k and np.isfinite(numeric(df, s)).all()]
    if not base and info is None:
        raise CalibrationError(f"{run}: no live signal is defined on every record")
    probe = PROBE if info is not None else None
    variants = [(candidate_sets(base, probe=probe) or [(PROBE,)], 0)]
    if sampled:
        variants.append((candidate_sets(base, probe=probe, required=sampled[:1]), k))
    risk = []
    for candidates, kk in variants:
        feats, tried = select_features(
            candidates, lambda f: risk_features(df, f, oof), 1.0 - y, seed=seed
        )
        _, scorer = fit_logistic(risk_features(df, feats, oof), 1.0 - y)
        risk.append(RiskModel(feats, scorer, kk, tuple(tried)))
    p_err = risk[0].scorer.proba(risk_features(df, risk[0].features, oof))
    cfg = manifest.get("config", {})
    return Calibration(
        model={
            "name": cfg.get("model"),
            "revision": manifest.get("model_revision"),
            "hidden_size": None if probe_scorer is None else probe_scorer.coef.size,
        },
        run={
            "path": str(run),
            "fingerprint": manifest.get("fingerprint"),
            "task": cfg.get("task"),
            "split": cfg.get("split"),
            "n": len(df),
            "accuracy": float(y.mean()),
            "seed": seed,
        },
        generation={k: cfg.get(k) for k in ("max_new_tokens", "temperature", "top_p")},
        signals=ranked,
        risk=risk,
        probe=info,
        probe_scorer=probe_scorer,
        interaction=_interaction(df, types),
        veto=_veto(df, types),
        accept={"coverage": COVERAGE, "risk_threshold": float(np.quantile(p_err, COVERAGE))},
    )
