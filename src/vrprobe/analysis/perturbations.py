"""Perturbation metrics (SPEC §1, §3, §4): blur decay, masking drops, highlight gains.

Every comparison is *paired*: a perturbed record is compared with the same sample's clean
record (``none``; ``blur-k1`` when there is no ``none``), or, for highlight, with the same
sample's ``highlight-instruction-only`` record. Answers are compared by their normalised
extraction (``extracted``); exact match (EM) is ``correct`` and token F1 is ``f1`` (the task's
scorer), so a delta of +0.05 EM is five points.

- ``perturbation_table``: one row per perturbation: n, accuracy, E_k (= ``agreement``, the
  share whose answer equals the clean answer), and paired deltas vs the clean answers and vs
  the instruction-only prompt.
- ``blur_summary``: mean consecutive identity ``C`` (answer equal to the clean one at every
  blur level), accuracy on ``C = 1``, the share answerable under the strongest blur.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vrprobe.analysis.profiles import perturbation_table as _base_table
from vrprobe.perturb.registry import blur_kernel, family

INSTRUCTION_ONLY = "highlight-instruction-only"
DELTA_COLUMNS = [
    "family",
    "em",
    "f1",
    "n_paired",
    "delta_accuracy",
    "delta_f1",
    "n_paired_instruction",
    "delta_em_vs_instruction",
    "delta_f1_vs_instruction",
]


def _by_sample(df: pd.DataFrame, label: str, column: str) -> pd.Series:
    part = df[df["perturbation"] == label]
    return pd.Series(part[column].to_numpy(), index=part["sample_id"].to_numpy())


def _family(name: str) -> str | None:
    try:
        return family(name)
    except ValueError:
        return None


def paired_delta(df: pd.DataFrame, label: str, base: str, column: str) -> tuple[float | None, int]:
    """Mean of ``column`` under ``label`` minus under ``base`` over samples that have both.

    >>> df = pd.DataFrame({"sample_id": ["a", "b", "a", "b", "c"],
    ...     "perturbation": ["none", "none", "x", "x", "x"],
    ...     "correct": [1.0, 1.0, 0.0, 1.0, 0.0]})
    >>> paired_delta(df, "x", "none", "correct")
    (-0.5, 2)
    """
    if column not in df:
        return None, 0
    a = pd.to_numeric(_by_sample(df, label, column), errors="coerce")
    b = pd.to_numeric(_by_sample(df, base, column), errors="coerce")
    both = a.index.intersection(b.index)
    diff = (a[both] - b[both]).dropna()
    return (float(diff.mean()), len(diff)) if len(diff) else (None, 0)


def perturbation_table(df: pd.DataFrame) -> pd.DataFrame:
    """The per-perturbation table of ``profiles`` plus EM/F1 and paired deltas (see module)."""
    base = _base_table(df)
    if base.empty:
        return pd.DataFrame(columns=[*base.columns, *DELTA_COLUMNS])
    df = df.assign(perturbation=df["perturbation"].fillna("none"), correct=df["correct"] * 1.0)
    labels = set(df["perturbation"])
    clean = "none" if "none" in labels else "blur-k1"
    rows = []
    for label in base["perturbation"]:
        part = df[df["perturbation"] == label]
        f1 = pd.to_numeric(part["f1"], errors="coerce") if "f1" in part else pd.Series([])
        d_acc, n = paired_delta(df, label, clean, "correct")
        d_f1, _ = paired_delta(df, label, clean, "f1")
        row = {
            "family": _family(label),
            "em": float(part["correct"].mean()),
            "f1": float(f1.mean()) if f1.notna().any() else None,
            "n_paired": n,
            "delta_accuracy": d_acc,
            "delta_f1": d_f1,
            "n_paired_instruction": 0,
            "delta_em_vs_instruction": None,
            "delta_f1_vs_instruction": None,
        }
        if row["family"] == "highlight" and INSTRUCTION_ONLY in labels:
            d_em, n_i = paired_delta(df, label, INSTRUCTION_ONLY, "correct")
            d_f1_i, _ = paired_delta(df, label, INSTRUCTION_ONLY, "f1")
            row.update(n_paired_instruction=n_i, delta_em_vs_instruction=d_em)
            row["delta_f1_vs_instruction"] = d_f1_i
        rows.append(row)
    return pd.concat([base, pd.DataFrame(rows, columns=DELTA_COLUMNS)], axis=1)


def consecutive_identity(answers: list, clean) -> bool:
    """``C``: the answer equals the clean answer at every blur level (so between consecutive
    levels too). A missing clean answer is never identical.

    >>> consecutive_identity(["red", "red"], "red"), consecutive_identity(["red", "blue"], "red")
    (True, False)
    """
    return clean is not None and all(a == clean for a in answers)


def blur_summary(df: pd.DataFrame) -> dict:
    """Blur-decay summary over samples that have the clean answer and every blur level present.

    Keys: ``kernels``, ``n_samples``, ``mean_C``, ``accuracy_C1`` (clean accuracy of samples
    with C = 1), ``n_C1``, ``full_blur_kernel`` and ``answerable_full_blur`` (share correct at
    the strongest kernel, over all its records). Empty dict without blur records.
    """
    if df.empty or "perturbation" not in df:
        return {}
    pert = df["perturbation"].fillna("none")
    kernels = sorted({k for k in map(blur_kernel, set(pert)) if k is not None and k > 1})
    if not kernels:
        return {}
    answer = "extracted" if "extracted" in df else "prediction"
    clean_label = "none" if (pert == "none").any() else "blur-k1"
    clean = _by_sample(df.assign(perturbation=pert), clean_label, answer)
    clean_ok = _by_sample(df.assign(perturbation=pert), clean_label, "correct")
    levels = [_by_sample(df.assign(perturbation=pert), f"blur-k{k}", answer) for k in kernels]
    sids = [s for s in clean.index if all(s in lv.index for lv in levels)]
    c = np.array([consecutive_identity([lv[s] for lv in levels], clean[s]) for s in sids], bool)
    strongest = df[pert == f"blur-k{kernels[-1]}"]
    acc_c1 = clean_ok[[s for s, ok in zip(sids, c, strict=True) if ok]].astype(float)
    return {
        "kernels": [1, *kernels] if (pert == "blur-k1").any() else kernels,
        "n_samples": len(sids),
        "mean_C": float(c.mean()) if len(c) else None,
        "n_C1": int(c.sum()),
        "accuracy_C1": float(acc_c1.mean()) if len(acc_c1) else None,
        "full_blur_kernel": kernels[-1],
        "answerable_full_blur": float(strongest["correct"].astype(float).mean()),
    }
