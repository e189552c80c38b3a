"""Attention overlays of the answers worth a look: confident errors and confident-but-blind.

Confidence is the combined model's out-of-fold P(correct) when available, else
exp(mean_logprob), else -full_entropy. "Blind" = the vision signal (``evidence_overlap_late``
where the item has it, else ``vam``) in the lowest quarter while confidence is at or above the
median. Records hold no pixels: ``image_loader(record)`` may return the image (a PIL image) or
None, in which case the map is drawn alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vrprobe.analysis.records import numeric
from vrprobe.report.plots import overlay

ImageLoader = Callable[[dict], Any]
MAP_COLUMNS = ("mean_map", "grid_rows", "grid_cols", "evidence_cells")


def confidence(df: pd.DataFrame, preds: pd.DataFrame | None) -> tuple[np.ndarray, str]:
    """(confidence per record, its name)."""
    if preds is not None and "p_combined" in preds and preds["p_combined"].notna().any():
        p = df["item_key"].map(dict(zip(preds["item_key"], preds["p_combined"], strict=True)))
        return p.to_numpy(dtype=float), "combined model P(correct)"
    if np.isfinite(lp := numeric(df, "mean_logprob")).any():
        return np.exp(lp), "exp(mean log-prob)"
    return -numeric(df, "full_entropy"), "−full-response entropy"


def vision(df: pd.DataFrame) -> np.ndarray:
    """Per record: late evidence overlap where defined, else VAM."""
    eo = numeric(df, "evidence_overlap_late")
    return np.where(np.isfinite(eo), eo, numeric(df, "vam"))


def pick(df: pd.DataFrame, preds: pd.DataFrame | None, k: int = 4) -> dict[str, list[int]]:
    """Row positions of the top-``k`` confident errors and confident-but-blind answers."""
    conf, _ = confidence(df, preds)
    drawable = df["mean_map"].notna().to_numpy() if "mean_map" in df else np.zeros(len(df), bool)
    ok = drawable & np.isfinite(conf)
    wrong = ~df["correct"].to_numpy(dtype=bool)
    order = np.argsort(-np.where(ok, conf, -np.inf), kind="stable")
    errors = [int(i) for i in order if ok[i] and wrong[i]][:k]
    v = vision(df)
    blind: list[int] = []
    if ok.any() and np.isfinite(v[ok]).any():
        tau_v = np.nanquantile(v[ok], 0.25)
        tau_c = np.nanmedian(conf[ok])
        hits = ok & np.isfinite(v) & (v <= tau_v) & (conf >= tau_c)
        blind = [int(i) for i in order if hits[i]][:k]
    return {"errors": errors, "blind": blind}


def _card(row: dict, conf: float, conf_name: str, loader: ImageLoader | None) -> dict | None:
    rows, cols = row.get("grid_rows"), row.get("grid_cols")
    m = row.get("mean_map")
    if m is None or not rows or not cols or np.size(m) != int(rows) * int(cols):
        return None
    image, note = None, "map only (no image loader)"
    if loader is not None:
        try:
            image = loader(row)
            note = "map over the image" if image is not None else "map only (image unavailable)"
        except Exception as exc:  # a missing file must not stop the report
            note = f"map only (image loader failed: {type(exc).__name__})"
    size = None
    if row.get("image_width") and row.get("image_height"):
        size = (float(row["image_width"]), float(row["image_height"]))
    src = overlay(
        m,
        int(rows),
        int(cols),
        row.get("evidence_cells"),
        image,
        size,
        title=str(row.get("sample_id", "")),
    )
    answers = row.get("answers")
    return {
        "src": src,
        "sample_id": row.get("sample_id"),
        "question": row.get("question"),
        "prediction": row.get("prediction"),
        "answers": ", ".join(map(str, answers)) if answers is not None else "",
        "confidence": f"{conf_name} = {conf:.3f}",
        "vam": row.get("vam"),
        "evidence_overlap_late": row.get("evidence_overlap_late"),
        "note": note,
    }


def gallery(
    df: pd.DataFrame, preds: pd.DataFrame | None, loader: ImageLoader | None, k: int = 4
) -> dict[str, list[dict]]:
    """Cards {src, sample_id, question, prediction, answers, confidence, note} per group."""
    conf, name = confidence(df, preds)
    out = {}
    for group, idx in pick(df, preds, k).items():
        cards = [_card(df.iloc[i].to_dict(), float(conf[i]), name, loader) for i in idx]
        out[group] = [c for c in cards if c is not None]
    return out


def task_image_loader(run: Path) -> ImageLoader | None:
    """An image loader that reopens images through the run's task (from ``manifest.json``).

    Samples are indexed by id on first use (up to the run's ``--limit``); None when the manifest
    or the task cannot be found (e.g. a dataset folder that was moved).
    """
    from vrprobe.tasks.base import Sample
    from vrprobe.tasks.registry import TaskNotFound, resolve_task

    try:
        cfg = json.loads((Path(run) / "manifest.json").read_text()).get("config", {})
        task = resolve_task(cfg["task"], cfg.get("split", "test"), cfg.get("data"))
    except (OSError, ValueError, KeyError, TaskNotFound):
        return None
    index: dict[str, Sample] = {}

    def load(record: dict):
        if not index:
            for s in task.samples(cfg.get("limit")):
                if isinstance(s, Sample):
                    index[s.id] = s
        sample = index.get(str(record.get("sample_id")))
        return sample.load_image() if sample is not None else None

    return load
