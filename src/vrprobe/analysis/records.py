"""Loading a run's records for analysis, the signal catalogue, and atomic table writes.

The catalogue fixes each scalar signal's orientation (``True`` = higher raw value means a more
reliable answer) and says why a signal can be missing. Columns derived from correctness
(``seeing_not_believing``, ``sc_majority_correct``) are not signals: they would leak the label.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from vrprobe.store.shards import SHARD_GLOB, read_shards

EVIDENCE = "no evidence boxes for these samples"
SAMPLES = "no sampled answers (run with --samples K)"
CAPTURE = "not recorded (signal capture did not run)"

# name: (higher_is_reliable, why it may be missing)
SIGNALS: dict[str, tuple[bool, str]] = {
    "full_entropy": (False, CAPTURE),
    "answer_entropy": (False, CAPTURE),
    "max_entropy": (False, CAPTURE),
    "mean_logprob": (True, CAPTURE),
    "perplexity": (False, CAPTURE),
    "sc_share": (True, SAMPLES),
    "sc_distinct": (False, SAMPLES),
    "sc_entropy": (False, SAMPLES),
    "spatial_entropy": (False, CAPTURE),
    "cluster_count": (False, CAPTURE),
    "early_entropy_drop": (False, CAPTURE),
    "late_entropy_rise": (False, CAPTURE),
    "vam": (True, CAPTURE),
    "vam_top_half": (True, CAPTURE),
    "vam_sink_robust": (True, CAPTURE),
    "evidence_mass": (True, EVIDENCE),
    "evidence_overlap": (True, EVIDENCE),
    "evidence_overlap_late": (True, EVIDENCE),
    "collapse_ratio": (False, EVIDENCE),
    "evidence_auc": (True, EVIDENCE),
    "evidence_auroc_deep": (True, EVIDENCE),
    "rapt_evidence_deep": (True, EVIDENCE),
    "rapt_nonevidence_deep": (False, EVIDENCE),
}
# signals drawn as risk–coverage curves and used by the gallery, in order of preference
MAIN_SIGNALS = ("full_entropy", "mean_logprob", "sc_share", "vam", "evidence_overlap_late")
META = (
    "item_key",
    "sample_id",
    "task",
    "perturbation",
    "question",
    "answers",
    "question_type",
    "task_type",
    "answer_kind",
    "prediction",
    "extracted",
    "correct",
    "error",
    "image_width",
    "image_height",
)
HEAVY = ("hidden_prompt", "hidden_last", "layer_maps", "step_layer_vam", "step_layer_evidence_mass")


def shard_columns(run: Path) -> list[str]:
    """Union of the column names of every record shard of ``run``."""
    names: dict[str, None] = {}
    for path in sorted((Path(run) / "records").glob(SHARD_GLOB)):
        names.update(dict.fromkeys(pq.read_schema(path).names))
    return list(names)


def load_records(run: Path, extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """The run's records (deduplicated by ``read_shards``) as a DataFrame, without heavy arrays.

    Keeps the metadata, every catalogued signal, the ``layer_*``/``step_*`` per-record curves and
    the columns named in ``extra``; columns absent from every shard are simply absent.
    """
    available = shard_columns(run)
    wanted = [
        c
        for c in available
        if c in META
        or c in SIGNALS
        or c in extra
        or (c.startswith(("layer_", "step_")) and c not in HEAVY)
    ]
    folder = Path(run) / "records"
    every = all(set(wanted) <= set(pq.read_schema(p).names) for p in folder.glob(SHARD_GLOB))
    table = read_shards(folder, columns=wanted if every else None)
    return table.select([c for c in wanted if c in table.column_names]).to_pandas()


def split_errors(df: pd.DataFrame) -> tuple[pd.DataFrame, int, int]:
    """(answered and scored records, number of error records, number of unscored records)."""
    if df.empty or "item_key" not in df:
        return df.iloc[0:0], 0, 0
    err = df["error"].notna() if "error" in df else pd.Series(False, index=df.index)
    scored = df["correct"].notna() if "correct" in df else pd.Series(False, index=df.index)
    ok = df[~err & scored].reset_index(drop=True)
    ok["correct"] = ok["correct"].astype(bool)
    return ok, int(err.sum()), int((~err & ~scored).sum())


def clean_subset(df: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Unperturbed records (``perturbation`` none/null) when there are any, else all of them."""
    if "perturbation" not in df:
        return df, "all"
    clean = df["perturbation"].isna() | (df["perturbation"] == "none")
    return (df[clean].reset_index(drop=True), "none") if clean.any() else (df, "all")


def numeric(df: pd.DataFrame, column: str) -> np.ndarray:
    """``df[column]`` as floats with NaN for null (all NaN if the column is absent)."""
    if column not in df:
        return np.full(len(df), np.nan)
    return pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=float)


def write_parquet_atomic(path: Path, frame: pd.DataFrame | pa.Table) -> None:
    """Write a Parquet file through a temporary name and a rename (readers never see half)."""
    table = frame
    if not isinstance(frame, pa.Table):
        table = pa.Table.from_pandas(frame, preserve_index=False)
    tmp = path.with_name(path.name + ".tmp")
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
