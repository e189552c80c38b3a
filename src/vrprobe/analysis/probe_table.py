"""Probe tables of a run: per layer and position, cross-validated probe AUROC for correctness.

Reads the hidden-state columns of a run's records (one position at a time, to bound memory)
and writes `RUN/analysis/probes.parquet` with columns `layer`, `position`, `probe`, `auroc`,
which the report plots.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from numpy.typing import ArrayLike
from threadpoolctl import threadpool_limits

from vrprobe.analysis.probes import Probe, layer_probe_auroc
from vrprobe.store.shards import read_shards

PROBE_TABLE = "analysis/probes.parquet"
PROBE_SCHEMA = pa.schema(
    [("layer", pa.int64()), ("position", pa.string()), ("probe", pa.string()),
     ("auroc", pa.float64())]
)  # fmt: skip


def _stack(column: pa.ChunkedArray) -> np.ndarray:
    """A null-free list<list<float>> column as an (n, L+1, d) float32 array (chunk-wise, so
    no 2**31-value list offsets are ever needed)."""
    parts, shapes = [], set()
    for chunk in (c for c in column.chunks if len(c)):
        outer = chunk.flatten()
        lens = [np.unique(pc.list_value_length(a).to_numpy()) for a in (chunk, outer)]
        shapes.add(tuple(int(v[0]) if len(v) == 1 else -1 for v in lens))
        parts.append(outer.flatten().to_numpy(zero_copy_only=False).astype(np.float32))
    if len(shapes) != 1 or -1 in (shape := shapes.pop()):
        raise ValueError("hidden states of one run must share one (L+1, d) shape")
    return np.concatenate(parts).reshape(-1, *shape)


def _arrays(table: pa.Table, position: str) -> tuple[np.ndarray, np.ndarray] | None:
    name = f"hidden_{position}"
    if name not in table.column_names or "correct" not in table.column_names:
        return None
    ok = np.asarray(table.column(name).is_valid()) & np.asarray(table.column("correct").is_valid())
    if "error" in table.column_names:
        ok &= np.asarray(table.column("error").is_null())
    if not ok.any():
        return None
    sub = table.filter(pa.array(ok))
    return _stack(sub.column(name)), np.asarray(sub.column("correct").to_pylist(), dtype=bool)


def probe_table(source: pa.Table | Mapping[str, tuple[ArrayLike, ArrayLike]], *,
                positions: Sequence[str] = ("prompt", "last"),
                probes: Sequence[Probe] = ("logistic", "mlp"), folds: int = 5, seed: int = 0
                ) -> list[dict]:  # fmt: skip
    """Rows ``{layer, position, probe, auroc}`` for every position and probe.

    ``source`` is a records table (columns ``hidden_<position>``, ``correct``, ``error``: error
    records and rows without hidden states are skipped) or ``{position: (hidden, correct)}``.
    Positions with no usable rows give no rows.
    """
    rows: list[dict] = []
    for pos in positions:
        arrays = source.get(pos) if isinstance(source, Mapping) else _arrays(source, pos)
        if arrays is None:
            continue
        hidden, correct = arrays
        for probe in probes:
            aurocs = layer_probe_auroc(hidden, correct, probe=probe, folds=folds, seed=seed)
            rows += [{"layer": i, "position": pos, "probe": probe, "auroc": float(a)}
                     for i, a in enumerate(aurocs)]  # fmt: skip
    return rows


def write_probe_table(run_dir: Path, *, positions: Sequence[str] = ("prompt", "last"),
                      probes: Sequence[Probe] = ("logistic", "mlp"), folds: int = 5,
                      seed: int = 0) -> Path:  # fmt: skip
    """Probe the run's records (see :func:`probe_table`) and write ``RUN/analysis/probes.parquet``
    atomically (temporary file + rename); one position's column is read at a time."""
    records, rows = Path(run_dir) / "records", []
    # Probe matrices are small (n × d per layer): extra BLAS threads only contend, measured
    # several times slower than one thread on 2 cores.
    with threadpool_limits(limits=1):
        for pos in positions:
            table = read_shards(records, ["correct", f"hidden_{pos}"])
            rows += probe_table(table, positions=(pos,), probes=probes, folds=folds, seed=seed)
    out = Path(run_dir) / PROBE_TABLE
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    pq.write_table(pa.Table.from_pylist(rows, schema=PROBE_SCHEMA), tmp)
    os.replace(tmp, out)
    return out
