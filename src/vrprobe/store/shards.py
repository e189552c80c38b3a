"""Record shards: Parquet files written atomically, read back deduplicated by item key.

A shard is written to a temporary name in the same folder and renamed into place, so a reader
never sees half a file and a run killed mid-write leaves at most a stray temporary file (ignored
and swept on the next open). Numpy arrays in records become float32 list columns.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SHARD_GLOB = "shard-*.parquet"
TMP_SUFFIX = ".tmp"


def _array_type(ndim: int) -> pa.DataType:
    typ: pa.DataType = pa.float32()
    for _ in range(ndim):
        typ = pa.list_(typ)
    return typ


def _column(values: list) -> pa.Array:
    arrays = [v for v in values if isinstance(v, np.ndarray)]
    if not arrays:
        return pa.array(values)
    typ = _array_type(arrays[0].ndim)
    return pa.array(
        [v.astype(np.float32).tolist() if isinstance(v, np.ndarray) else v for v in values],
        type=typ,
    )


def records_to_table(records: list[dict]) -> pa.Table:
    """Column-wise conversion; keys missing from a record become nulls.

    >>> t = records_to_table([{"a": 1, "m": np.ones((2, 2))}, {"a": 2}])
    >>> t.num_rows, str(t.schema.field("m").type)
    (2, 'list<item: list<item: float>>')
    """
    names: dict[str, None] = {}
    for rec in records:
        names.update(dict.fromkeys(rec))
    return pa.table({n: _column([rec.get(n) for rec in records]) for n in names})


def write_shard(folder: Path, records: list[dict], name: str | None = None) -> Path:
    """Write `records` as one new shard in `folder`, atomically; returns its path.

    `name` (`shard-*.parquet`) gives the shard a chosen name: writing the same records again
    under it replaces the file instead of duplicating them (the Ray executor names a shard
    after the keys it holds, so a retried batch cannot store its records twice)."""
    folder.mkdir(parents=True, exist_ok=True)
    name = name or f"shard-{uuid.uuid4().hex}.parquet"
    if not (name.startswith("shard-") and name.endswith(".parquet")):
        raise ValueError(f"shard name {name!r} must look like shard-*.parquet")
    tmp = folder / f"{name}.{uuid.uuid4().hex[:8]}{TMP_SUFFIX}"
    pq.write_table(records_to_table(records), tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, folder / name)
    return folder / name


def sweep_temporaries(folder: Path) -> int:
    """Remove temporary files left by a killed writer; returns how many."""
    stale = list(folder.glob("*" + TMP_SUFFIX)) if folder.exists() else []
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


def read_shards(folder: Path, columns: Iterable[str] | None = None) -> pa.Table:
    """All shards as one table, one row per `item_key` (`columns` selects columns; the key and
    `error` columns always come along, and columns a shard lacks come back as nulls).

    Where a key appears more than once (a retried error, two workers racing), a record without
    an error wins over an error record, then the first written.
    """
    paths = sorted(folder.glob(SHARD_GLOB), key=lambda p: (p.stat().st_mtime_ns, p.name))
    if not paths:
        return pa.table({"item_key": pa.array([], pa.string())})
    cols = None
    if columns is not None:  # the key and error columns are needed to deduplicate
        cols = list(dict.fromkeys(["item_key", "error", *columns]))
    tables = [_read_columns(p, cols) for p in paths]
    table = pa.concat_tables(tables, promote_options="permissive")
    return _dedupe(table)


def _read_columns(path: Path, columns: list[str] | None) -> pa.Table:
    """The requested columns of one shard; those it lacks come back as nulls."""
    if columns is None:
        return pq.read_table(path)
    present = set(pq.read_schema(path).names)
    table = pq.read_table(path, columns=[c for c in columns if c in present])
    for name in columns:
        if name not in present:
            table = table.append_column(name, pa.nulls(table.num_rows))
    return table.select(columns)


def _dedupe(table: pa.Table) -> pa.Table:
    keys = table.column("item_key").to_pylist()
    errors = (
        table.column("error").to_pylist() if "error" in table.column_names else [None] * len(keys)
    )
    best: dict[str, int] = {}
    for i, (key, err) in enumerate(zip(keys, errors, strict=True)):
        j = best.get(key)
        if j is None or (errors[j] is not None and err is None):
            best[key] = i
    if len(best) == len(keys):
        return table
    return table.take(sorted(best.values()))
