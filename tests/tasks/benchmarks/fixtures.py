"""Writers for benchmark fixtures in their published layouts (built in the tests)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image


def png(size=(16, 12), color=(200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def image_struct(size=(16, 12), color=(200, 30, 30)) -> dict:
    """A `datasets` Image value as parquet stores it."""
    return {"bytes": png(size, color), "path": None}


def write_hub_parquet(folder: Path, rows: list[dict], split: str = "test", sub: str = "data"):
    """`<folder>/<sub>/<split>-00000-of-00001.parquet`, as the hub publishes it."""
    out = folder / sub
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), out / f"{split}-00000-of-00001.parquet")
    return folder


def save_to_disk(folder: Path, rows: list[dict], image_columns=("image",)) -> Path:
    import datasets

    ds = datasets.Dataset.from_list(rows)
    for col in image_columns:
        ds = ds.cast_column(col, datasets.Image())
    ds.save_to_disk(str(folder))
    return folder


def write_json_lines(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def b64png(size=(16, 12), color=(200, 30, 30)) -> str:
    """An image as VLMEvalKit TSVs store it (base64 of the encoded file)."""
    import base64

    return base64.b64encode(png(size, color)).decode()


def write_tsv(path: Path, rows: list[dict]) -> Path:
    """A VLMEvalKit-style TSV (tab-separated, header row)."""
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter="\t")
        writer.writeheader()
        writer.writerows(rows)
    return path


def records_for(samples, predictions) -> list[dict]:
    """Records as the runner writes them (prediction, native verdict), for native metrics."""
    from vrprobe.tasks.scoring import score_sample

    return [
        {"sample_id": s.id, "prediction": p, "correct": score_sample(s, p).correct, "error": None}
        for s, p in zip(samples, predictions, strict=True)
    ]
