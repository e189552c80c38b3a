"""Rows from every layout a benchmark is published in, without loading the whole dataset.

`--data` may name:

- a folder saved by `datasets.save_to_disk` (a `DatasetDict` folder takes the split);
- parquet files as on the hub: a `.parquet` file, or a folder holding `**/<split>-*.parquet`
  (e.g. `data/test-00000-of-00001.parquet`, MMMU's `Accounting/validation-*.parquet`), else
  every `*.parquet` under it; image columns stay `{"bytes", "path"}` structs;
- a JSON file (a list, a dict of lists/rows, or JSON lines as POPE ships them), a `.jsonl`
  file, or a `.tsv` (VLMEvalKit), with images in folders next to it;
- a folder the benchmark walks itself (V*'s image + annotation pairs);
- a hub id (`org/name`), loaded with `datasets.load_dataset` when the machine is online.

Each row comes as `(fallback_id, row)`; a row that cannot be parsed comes as a `SampleError`.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from vrprobe.tasks.base import SampleError
from vrprobe.tasks.files import _dataset_rows, _jsonl_rows

Rows = Iterator[tuple[str, Any]]


class DataNotFound(ValueError):
    """`--data` names nothing loadable; the message names the option and the path."""


def offline() -> bool:
    """Whether the hub is switched off (HF_HUB_OFFLINE / HF_DATASETS_OFFLINE)."""
    flags = (os.environ.get(k, "") for k in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))
    return any(f.strip().lower() in ("1", "true", "yes", "on") for f in flags)


def _parquet_rows(files: list[Path]) -> Rows:
    number = 0
    for path in files:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=64):
            for row in batch.to_pylist():
                number += 1
                yield f"row-{number}", row


def _json_rows(path: Path) -> Rows:
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        yield from _jsonl_rows(path)  # POPE's ".json" files are JSON lines
        return
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) == 1:
            data = lists[0]  # {"data": [...]}
        elif all(isinstance(v, dict) for v in data.values()):
            data = [{"_key": k, **v} for k, v in data.items()]  # {"id": row, ...}
        else:
            data = [data]
    if not isinstance(data, list):
        yield "row-1", SampleError("row-1", f"{path.name}: expected a list of rows")
        return
    for number, row in enumerate(data, start=1):
        yield f"row-{number}", row


def _tsv_rows(path: Path) -> Rows:
    csv.field_size_limit(sys.maxsize)  # base64 images are long fields
    with open(path, encoding="utf-8", errors="replace", newline="") as fh:
        for number, row in enumerate(csv.DictReader(fh, delimiter="\t"), start=1):
            yield f"row-{number}", row


def file_rows(path: Path) -> Rows:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _parquet_rows([path])
    if suffix == ".jsonl":
        return _jsonl_rows(path)
    if suffix == ".json":
        return _json_rows(path)
    if suffix == ".tsv":
        return _tsv_rows(path)
    raise DataNotFound(f"--data: cannot read {path} (use .parquet, .json, .jsonl or .tsv)")


def _split_parquet(folder: Path, split: str) -> list[Path]:
    named = sorted(folder.glob(f"**/{split}-*.parquet")) + sorted(
        folder.glob(f"**/{split}/*.parquet")
    )
    return named or sorted(folder.glob("**/*.parquet"))


def _annotation_files(folder: Path) -> list[Path]:
    return sorted(p for ext in ("jsonl", "json", "tsv") for p in folder.glob(f"*.{ext}"))


def local_rows(path: Path, split: str) -> tuple[Rows, Path]:
    """Rows of a local `--data` path and the folder relative image paths resolve against."""
    if path.is_file():
        return file_rows(path), path.parent
    if not path.is_dir():
        raise DataNotFound(f"--data: {path} does not exist")
    if (path / "dataset_dict.json").is_file():
        if not (path / split / "state.json").is_file():
            raise DataNotFound(f"--data: {path} has no split {split!r} (pass --split)")
        return _dataset_rows(path / split), path / split
    if (path / "state.json").is_file():
        return _dataset_rows(path), path
    parquet = _split_parquet(path, split)
    if parquet:
        return _parquet_rows(parquet), path
    notes = _annotation_files(path)
    if len(notes) == 1:
        return file_rows(notes[0]), path
    if notes:
        names = ", ".join(p.name for p in notes)
        raise DataNotFound(f"--data: {path} holds several annotation files ({names}); name one")
    raise DataNotFound(f"--data: {path} holds no parquet, JSON, JSONL, TSV or saved dataset")


def hub_rows(hub_id: str, config: str | None, split: str) -> Rows:
    """Rows streamed from the hub (decoded PIL images); only when online."""
    import datasets

    ds = datasets.load_dataset(hub_id, config, split=split, streaming=True)
    for number, row in enumerate(ds, start=1):
        yield f"row-{number}", row


def looks_like_hub_id(spec: str) -> bool:
    """`org/name` that is not a local path.

    >>> looks_like_hub_id("lmms-lab/POPE"), looks_like_hub_id("./data/pope.json")
    (True, False)
    """
    parts = spec.split("/")
    return (
        len(parts) == 2
        and all(parts)
        and not spec.startswith((".", "~"))
        and Path(spec).suffix == ""
        and not Path(spec).exists()
    )
