"""`vrprobe analyze`: relate every recorded signal to correctness and write ``RUN/analysis/``.

Per run: ``signals.parquet`` (one row per scalar signal: orientation, r_pb with CI and p, AUROC
with bootstrap CI, AURC, selective risk at 90%/80% coverage, n, undefined reason),
``risk_coverage.parquet``, ``layers.parquet`` and ``steps.parquet`` (right vs wrong profiles),
``predictions.parquet`` (the combined model's out-of-fold P(correct)), ``veto.parquet``,
``perturbations.parquet``, ``interventions.parquet`` (only when the run has ``vrprobe
intervene`` records, ``analysis.interventions``), ``transfer.parquet`` (first run, when several
are given) and, last, ``summary.json``. Every file is written atomically; the same input gives
the same output. Error records are excluded and counted; signal statistics use the unperturbed
records.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sklearn

from vrprobe.analysis.guards import interaction_by_task, transfer_rows, veto_table
from vrprobe.analysis.headline import headline_rows
from vrprobe.analysis.interventions import intervention_table
from vrprobe.analysis.perturbations import blur_summary, perturbation_table
from vrprobe.analysis.profiles import layer_table, step_table
from vrprobe.analysis.records import (
    SIGNALS,
    clean_subset,
    load_records,
    numeric,
    split_errors,
    write_parquet_atomic,
)
from vrprobe.analysis.signals_table import (
    COLUMNS,
    combined_inputs,
    combined_model,
    risk_coverage_table,
    signal_table,
)
from vrprobe.store.run import write_json_atomic
from vrprobe.store.shards import sweep_temporaries

ANALYSIS = "analysis"
SUMMARY = "summary.json"
# files this module owns in RUN/analysis/ (others, e.g. probes.parquet, are left alone)
_NAMES = (
    "signals",
    "risk_coverage",
    "layers",
    "steps",
    "predictions",
    "veto",
    "perturbations",
    "interventions",
)
OUTPUTS = {f"{name}.parquet" for name in (*_NAMES, "transfer")}


def jsonable(obj: Any) -> Any:
    """Plain JSON types; NaN/inf and numpy scalars become None/float/int."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | np.ndarray):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _records(frame: pd.DataFrame) -> list[dict]:
    return jsonable(frame.astype(object).where(frame.notna(), None).to_dict("records"))


def _accuracy(df: pd.DataFrame, by: str) -> dict[str, dict]:
    if by not in df or df.empty:
        return {}
    groups = df.groupby(df[by].fillna("unknown").astype(str), sort=True)["correct"]
    return {k: {"n": int(g.size), "accuracy": float(g.mean())} for k, g in groups}


def _prepare(run: Path) -> dict:
    df_all = load_records(run)
    ok, n_err, n_unscored = split_errors(df_all)
    clean, subset = clean_subset(ok)
    return {
        "all": df_all,
        "ok": ok,
        "clean": clean,
        "subset": subset,
        "n_errors": n_err,
        "n_unscored": n_unscored,
    }


def _analyze_one(run: Path, data: dict, *, n_boot: int, seed: int) -> tuple[dict, dict]:
    """(summary, {file name: table}) for one prepared run."""
    df, ok = data["clean"], data["ok"]
    summary: dict[str, Any] = {
        "run": str(run),
        "params": {"n_boot": n_boot, "seed": seed, "coverage": [0.9, 0.8]},
        "n_records": len(data["all"]),
        "n_errors": data["n_errors"],
        "n_unscored": data["n_unscored"],
        "n_answered": len(ok),
        "analysis_subset": {"perturbation": data["subset"], "n": len(df)},
        "accuracy": float(df["correct"].mean()) if len(df) else None,
        "by_question_type": _accuracy(df, "question_type"),
        "by_task_type": _accuracy(df, "task_type"),
    }
    tables: dict[str, pd.DataFrame] = {}
    if df.empty:
        why = "no answered records"
        summary.update(
            signals=[],
            unavailable=dict.fromkeys(SIGNALS, why),
            interaction={},
            combined={"auroc": None, "reason": why, "signals": []},
        )
        tables["signals.parquet"] = pd.DataFrame(columns=COLUMNS)
        return summary, tables
    table, missing = signal_table(df, n_boot=n_boot, seed=seed)
    names = combined_inputs(df, table)
    combined, proba = combined_model(df, names, seed=seed)
    preds = pd.DataFrame({"item_key": df["item_key"], "correct": df["correct"]})
    preds["p_combined"] = proba if proba is not None else np.nan
    preds["p_logprob"] = np.exp(numeric(df, "mean_logprob"))
    tables.update(
        {
            "signals.parquet": table,
            "risk_coverage.parquet": risk_coverage_table(df, list(table["signal"])),
            "layers.parquet": layer_table(df),
            "steps.parquet": step_table(df),
            "predictions.parquet": preds,
            "veto.parquet": veto_table(df, seed=seed),
            "perturbations.parquet": perturbation_table(ok),
        }
    )
    summary.update(
        signals=_records(table),
        unavailable=missing,
        combined=combined,
        interaction=interaction_by_task(df, n_boot=n_boot, seed=seed),
        veto=_records(tables["veto.parquet"]),
        perturbations=_records(tables["perturbations.parquet"]),
        blur_decay=blur_summary(ok),
    )
    interventions = intervention_table(run, ok, n_boot=n_boot, seed=seed)
    if not interventions.empty:
        tables["interventions.parquet"] = interventions
        summary["interventions"] = interventions.groupby("kind")["setting"].size().to_dict()
    return summary, tables


def _write(run: Path, summary: dict, tables: dict[str, pd.DataFrame]) -> None:
    folder = Path(run) / ANALYSIS
    folder.mkdir(parents=True, exist_ok=True)
    sweep_temporaries(folder)
    for name, frame in tables.items():
        write_parquet_atomic(folder / name, frame)
    summary["files"] = sorted(tables)
    write_json_atomic(folder / SUMMARY, jsonable(summary))  # last: marks a finished analysis
    for name in OUTPUTS - set(tables):  # e.g. transfer.parquet of an earlier multi-run call
        (folder / name).unlink(missing_ok=True)


def analyze_runs(paths: list[Path], *, n_boot: int = 1000, seed: int = 0) -> dict:
    """Analyse each run folder and write ``RUN/analysis/``; the first run also gets transfer.

    Returns ``{"runs": {path: summary}, "headline": [row, ...]}`` where each headline row is a
    dict of print-ready strings (see :func:`headline_rows`).
    """
    paths = [Path(p) for p in paths]
    # inputs are validated by analysis.metrics; skipping sklearn's re-validation of every
    # bootstrap resample makes the bootstrap about a third faster
    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        results = _analyze_all(paths, n_boot=n_boot, seed=seed)
    headline = [row for s in results.values() for row in headline_rows(s)]
    return {"runs": results, "headline": headline}


def _analyze_all(paths: list[Path], *, n_boot: int, seed: int) -> dict[str, dict]:
    prepared = [_prepare(p) for p in paths]
    results: dict[str, dict] = {}
    for i, (run, data) in enumerate(zip(paths, prepared, strict=True)):
        summary, tables = _analyze_one(run, data, n_boot=n_boot, seed=seed)
        if i == 0 and len(paths) > 1 and not data["clean"].empty:
            targets = [
                (str(p), d["clean"])
                for p, d in zip(paths[1:], prepared[1:], strict=True)
                if not d["clean"].empty
            ]
            rows = transfer_rows((str(run), data["clean"]), targets, summary["combined"]["signals"])
            tables["transfer.parquet"] = pd.DataFrame(rows)
            summary["transfer"] = _records(tables["transfer.parquet"])
        _write(run, summary, tables)
        results[str(run)] = jsonable(summary)
    return results
