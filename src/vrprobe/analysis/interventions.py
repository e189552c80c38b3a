"""The interventions table (``RUN/analysis/interventions.parquet``): accuracy per setting.

One row per (kind, setting) of ``vrprobe intervene`` records found under
``RUN/interventions/<kind>/records``: the setting's parameters (layer, rank, seed, k, fraction,
head, start, stop, source, positions), ``n`` answered records, ``accuracy`` with a percentile
bootstrap 95% CI over samples, and the *paired* comparison with the run's clean answers
(``perturbation`` none) on the same samples: ``n_paired``, ``clean_accuracy``,
``delta_accuracy`` = mean over paired samples of correct(setting) − correct(clean) with its
paired bootstrap CI (samples resampled with replacement, the same resample for both arms), and
``agreement`` = share of paired samples whose extracted answer equals the clean one. Error
records are left out and counted (``n_errors``). No intervention records → an empty table and
no file. Numpy + pandas only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from vrprobe.store.shards import read_shards

FOLDER = "interventions"
PARAMETERS = [
    "layer",
    "rank",
    "seed",
    "k",
    "fraction",
    "head",
    "start",
    "stop",
    "source",
    "positions",
]
COLUMNS = [
    "kind",
    "setting",
    *PARAMETERS,
    "n",
    "n_errors",
    "accuracy",
    "accuracy_lo",
    "accuracy_hi",
    "n_paired",
    "clean_accuracy",
    "delta_accuracy",
    "delta_lo",
    "delta_hi",
    "agreement",
]
READ = ["sample_id", "perturbation", "correct", "extracted", "kind", "setting", *PARAMETERS]


def load_interventions(run: Path) -> pd.DataFrame:
    """Every intervention record of ``run`` (all kinds), or an empty frame."""
    frames = []
    root = Path(run) / FOLDER
    for folder in sorted(p for p in root.glob("*/records") if p.is_dir()) if root.is_dir() else []:
        table = read_shards(folder, columns=READ)
        if table.num_rows:
            frames.append(table.to_pandas())
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=READ)


def bootstrap_mean_ci(values: np.ndarray, n_boot: int, seed: int, level: float = 0.95):
    """Percentile-bootstrap CI of the mean of ``values`` (resampled with replacement).

    >>> bootstrap_mean_ci(np.array([0.5, 0.5, 0.5]), 100, 0)
    (0.5, 0.5)
    """
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return None, None
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, (n_boot, values.size))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def _clean(ok: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Per sample: the clean record's correctness (0/1) and extracted answer."""
    if ok.empty or "perturbation" not in ok:
        return pd.Series(dtype=float), pd.Series(dtype=object)
    clean = ok[ok["perturbation"].isna() | (ok["perturbation"] == "none")]
    clean = clean.drop_duplicates("sample_id").set_index("sample_id")
    answer = clean["extracted"] if "extracted" in clean else pd.Series(None, index=clean.index)
    return clean["correct"].astype(float), answer


def _value(part: pd.DataFrame, name: str):
    v = part[name].iloc[0] if name in part else None
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    return v.item() if isinstance(v, np.generic) else v


def intervention_table(run: Path, ok: pd.DataFrame, *, n_boot: int = 1000, seed: int = 0):
    """The table of the module doc; ``ok`` = the run's answered records (for the clean arm)."""
    records = load_interventions(run)
    if records.empty:
        return pd.DataFrame(columns=COLUMNS)
    clean_correct, clean_answer = _clean(ok)
    rows = []
    for (kind, setting), part in records.groupby(["kind", "setting"], sort=False):
        err = part["error"].notna() if "error" in part else pd.Series(False, index=part.index)
        good = part[~err & part["correct"].notna()].drop_duplicates("sample_id")
        correct = good["correct"].astype(float).to_numpy()
        lo, hi = bootstrap_mean_ci(correct, n_boot, seed)
        row = {"kind": kind, "setting": setting, **{p: _value(part, p) for p in PARAMETERS}}
        row.update(
            n=len(good),
            n_errors=int(err.sum()),
            accuracy=_mean(correct),
            accuracy_lo=lo,
            accuracy_hi=hi,
        )
        paired = good[good["sample_id"].isin(clean_correct.index)]
        base = clean_correct[paired["sample_id"]].to_numpy()
        diff = paired["correct"].astype(float).to_numpy() - base
        d_lo, d_hi = bootstrap_mean_ci(diff, n_boot, seed)
        same = paired["extracted"].to_numpy() == clean_answer[paired["sample_id"]].to_numpy()
        row.update(
            n_paired=len(paired),
            clean_accuracy=_mean(base),
            delta_accuracy=_mean(diff),
            delta_lo=d_lo,
            delta_hi=d_hi,
            agreement=_mean(same),
        )
        rows.append(row)
    out = pd.DataFrame(rows, columns=COLUMNS)
    for name in ("layer", "seed", "k", "head", "start", "stop"):  # integers, null where unset
        out[name] = pd.array(out[name].astype(object).where(out[name].notna(), None), "Int64")
    return out.sort_values(
        ["kind", "layer", "start", "stop", "rank", "k", "seed", "head"],
        na_position="first",
        kind="stable",
    ).reset_index(drop=True)


def _mean(values: np.ndarray) -> float | None:
    return float(np.mean(values)) if len(values) else None
