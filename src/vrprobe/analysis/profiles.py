"""Per-layer and per-step profiles for right vs wrong answers, and accuracy per blur level.

``layer_*`` columns hold one value per decoder layer, ``step_*`` columns one per generated
token; steps are averaged into 10 bins of relative position (``signals.steps.relative_bins``)
so replies of different lengths line up. Records without a value (null, e.g. evidence columns
of samples without boxes) are left out of the means; ``n`` counts the records that contributed.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from vrprobe.perturb import registry
from vrprobe.signals.steps import relative_bins

N_BINS = 10


def _stack(values: pd.Series) -> np.ndarray:
    """Ragged per-record 1-D arrays → (records, max length) with NaN padding."""
    arrays = [np.asarray(v, dtype=float).ravel() if v is not None else np.empty(0) for v in values]
    width = max((a.size for a in arrays), default=0)
    out = np.full((len(arrays), width), np.nan)
    for i, a in enumerate(arrays):
        out[i, : a.size] = a
    return out


def _group_means(matrix: np.ndarray, correct: np.ndarray, metric: str, axis_name: str):
    rows = []
    for group, sel in (("right", correct), ("wrong", ~correct)):
        m = matrix[sel]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(m, axis=0) if m.size else np.full(matrix.shape[1], np.nan)
            count = np.isfinite(m).sum(axis=0) if m.size else np.zeros(matrix.shape[1], int)
            sem = np.nanstd(m, axis=0, ddof=1) / np.sqrt(np.maximum(count, 1)) if m.size else mean
        for i in range(matrix.shape[1]):
            rows.append(
                {
                    "metric": metric,
                    axis_name: i,
                    "group": group,
                    "mean": float(mean[i]),
                    "sem": float(sem[i]) if count[i] > 1 else None,
                    "n": int(count[i]),
                }
            )
    return rows


def _curve_columns(df: pd.DataFrame, prefix: str) -> list[str]:
    return [c for c in df.columns if c.startswith(prefix) and df[c].notna().any()]


def layer_table(df: pd.DataFrame) -> pd.DataFrame:
    """Long table (metric, layer, group, mean, sem, n) of every 1-D ``layer_*`` column."""
    y = df["correct"].to_numpy(dtype=bool)
    rows = []
    for col in _curve_columns(df, "layer_"):
        matrix = _stack(df[col])
        if matrix.shape[1]:
            rows += _group_means(matrix, y, col, "layer")
    return pd.DataFrame(rows, columns=["metric", "layer", "group", "mean", "sem", "n"])


def step_table(df: pd.DataFrame, n_bins: int = N_BINS) -> pd.DataFrame:
    """Long table (metric, bin, group, mean, sem, n) of ``step_*`` curves in relative bins."""
    y = df["correct"].to_numpy(dtype=bool)
    rows = []
    for col in _curve_columns(df, "step_"):
        binned = np.full((len(df), n_bins), np.nan)
        for i, v in enumerate(df[col]):
            if v is not None and np.size(v):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    binned[i] = relative_bins(np.asarray(v, dtype=float).ravel(), n_bins)
        rows += _group_means(binned, y, col, "bin")
    return pd.DataFrame(rows, columns=["metric", "bin", "group", "mean", "sem", "n"])


def blur_kernel(perturbation: str | None) -> int | None:
    """Blur kernel size of a perturbation label; 1 (identity) for ``none``.

    >>> blur_kernel("blur-k15"), blur_kernel("none"), blur_kernel("mask-top30")
    (15, 1, None)
    """
    if perturbation is None or perturbation == "none":
        return 1
    return registry.blur_kernel(perturbation)


def perturbation_table(df: pd.DataFrame) -> pd.DataFrame:
    """Accuracy per perturbation and ``E_k`` = share whose answer equals the clean answer.

    The clean answer of a sample is its extracted answer under ``none`` (else ``blur-k1``).
    """
    cols = ["perturbation", "kernel", "n", "accuracy", "agreement", "n_agreement"]
    if "perturbation" not in df or df.empty:
        return pd.DataFrame(columns=cols)
    pert = df["perturbation"].fillna("none")
    answer = df["extracted"] if "extracted" in df else df.get("prediction")
    clean: dict = {}
    for label in ("blur-k1", "none"):  # 'none' wins when both exist
        sel = pert == label
        if answer is not None:
            clean.update(dict(zip(df.loc[sel, "sample_id"], answer[sel], strict=True)))
    rows = []
    for label, part in df.groupby(pert, sort=False):
        agree = []
        if answer is not None:
            for sid, ans in zip(part["sample_id"], answer[part.index], strict=True):
                if sid in clean and clean[sid] is not None:
                    agree.append(ans == clean[sid])
        rows.append(
            {
                "perturbation": label,
                "kernel": blur_kernel(label),
                "n": len(part),
                "accuracy": float(part["correct"].mean()),
                "agreement": float(np.mean(agree)) if agree else None,
                "n_agreement": len(agree),
            }
        )
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values(["kernel", "perturbation"], na_position="last").reset_index(drop=True)
