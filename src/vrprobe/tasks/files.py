"""Tasks read from files: a JSONL manifest, or a folder saved by `datasets.save_to_disk`.

Both carry the same fields per row: `id`, `image`, `question`, `answers`, optional `choices`,
`evidence_boxes` ([x0, y0, x1, y1] in original-image pixels), `task_type`, `question_type`,
`answer_kind`. A broken row (bad JSON, a line that is not UTF-8, missing field, missing,
unreadable or oversized image, empty question or one longer than `MAX_QUESTION_CHARS`, a box
that is inverted, non-finite or outside the image, duplicate id) is yielded as a `SampleError`
naming the row and the problem, and loading goes on with the next row. Image sizes and boxes
are in the displayed (EXIF-oriented) orientation: see `vrprobe.tasks.images`. A datasets
folder whose files cannot be read at all raises `TaskFileError` (before any model loads).
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from vrprobe.tasks.base import AnswerKind, Sample, SampleError, TaskType
from vrprobe.tasks.images import (
    READ_ERRORS,
    ImageRejected,
    check_pixels,
    displayed_size,
    open_image,
    read_size,
)
from vrprobe.tasks.registry import TaskNotFound

# A longer question is an error, never truncated (a cut question is another question). The
# prompt is also checked against the model's context when the item runs (exec/answer.py).
MAX_QUESTION_CHARS = 20_000


class FileRow(BaseModel):
    """The schema of one row; extra fields are kept in `Sample.meta`."""

    model_config = ConfigDict(extra="allow")

    id: str
    image: Any
    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    answers: list[str] = Field(min_length=1)
    choices: list[str] = []
    evidence_boxes: list[tuple[float, float, float, float]] = []
    task_type: TaskType = "visual"
    question_type: str = ""
    answer_kind: AnswerKind | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) else v

    @field_validator("question")
    @classmethod
    def _question_not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("question is empty")
        return v

    @field_validator("evidence_boxes")
    @classmethod
    def _boxes_ordered(cls, boxes: list) -> list:
        for box in boxes:
            x0, y0, x1, y1 = box
            if not all(math.isfinite(v) for v in box):
                raise ValueError(f"box {list(box)} has a non-finite coordinate")
            if not (x0 < x1 and y0 < y1):
                raise ValueError(f"box {list(box)} is empty or inverted (need x0 < x1, y0 < y1)")
        return boxes


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "row"
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"field '{field}': {msg}")
    return "; ".join(parts)


def _image_source(value: Any, base: Path, row_id: str) -> Image.Image | Path:
    """A path (opened lazily) or, for `datasets` Image features, the embedded bytes."""
    if isinstance(value, dict):
        if value.get("bytes"):
            try:
                return open_image(io.BytesIO(value["bytes"]))
            except READ_ERRORS as exc:
                raise SampleError(row_id, f"embedded image is unreadable: {exc}") from exc
        value = value.get("path")
    if not isinstance(value, str) or not value:
        raise SampleError(row_id, "field 'image': need a file path or image bytes")
    path = Path(value) if Path(value).is_absolute() else base / value
    if not path.is_file():
        raise SampleError(row_id, f"image file not found: {path}")
    return path


def _image_size(source: Image.Image | Path, row_id: str) -> tuple[int, int]:
    """Displayed size from the header only (pixels are decoded when the item runs)."""
    where = "" if isinstance(source, Image.Image) else f" {source}"
    try:
        if isinstance(source, Image.Image):
            size = displayed_size(source)
            check_pixels(size)
            return size
        return read_size(source)
    except ImageRejected as exc:
        raise SampleError(row_id, f"image{where} refused: {exc}") from exc
    except READ_ERRORS as exc:
        raise SampleError(row_id, f"cannot read image{where}: {exc}") from exc


def row_to_sample(raw: Any, base: Path, default_kind: AnswerKind, fallback_id: str) -> Sample:
    """Validate one raw row into a `Sample`, or raise `SampleError` naming it."""
    if not isinstance(raw, dict):
        raise SampleError(fallback_id, f"row is {type(raw).__name__}, expected a JSON object")
    row_id = str(raw.get("id", fallback_id))
    try:
        row = FileRow.model_validate(raw)
    except ValidationError as exc:
        raise SampleError(row_id, _describe(exc)) from exc
    source = _image_source(row.image, base, row_id)
    width, height = _image_size(source, row_id)
    for box in row.evidence_boxes:
        x0, y0, x1, y1 = box
        if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
            raise SampleError(row_id, f"box {list(box)} lies outside the {width}x{height} image")
    return Sample(
        id=row.id,
        image=source,
        question=row.question,
        answers=tuple(row.answers),
        choices=tuple(row.choices),
        evidence_boxes=tuple(row.evidence_boxes),
        task_type=row.task_type,
        question_type=row.question_type,
        answer_kind=row.answer_kind or default_kind,
        meta=dict(row.model_extra or {}),
    )


def _jsonl_rows(path: Path) -> Iterator[tuple[str, Any]]:
    """(row name, parsed row or `SampleError`) per non-blank line. A line that is not valid
    UTF-8 is an error naming the byte offset (never decoded with replacement characters)."""
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            name = f"line-{number}"
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                yield name, SampleError(name, f"not valid UTF-8 (byte {exc.start} of the line)")
                continue
            if not line.strip():
                continue
            try:
                yield name, json.loads(line)
            except json.JSONDecodeError as exc:
                yield name, SampleError(name, f"bad JSON: {exc.msg}")


class TaskFileError(TaskNotFound):
    """The task's files cannot be read at all (not one row: the whole manifest or folder)."""


def _dataset_rows(folder: Path) -> Iterator[tuple[str, Any]]:
    number = 0
    try:
        state = json.loads((folder / "state.json").read_text())
        for entry in state["_data_files"]:
            with pa.memory_map(str(folder / entry["filename"])) as source:
                for batch in pa.ipc.open_stream(source):
                    for row in batch.to_pylist():
                        number += 1
                        yield f"row-{number}", row
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as exc:
        msg = f"cannot read the datasets folder {folder} after {number} rows: {exc}"
        raise TaskFileError(msg) from exc


class FileTask:
    """A task whose samples come from a JSONL manifest or a saved `datasets` folder."""

    def __init__(self, path: Path, answer_kind: AnswerKind = "text"):
        self.path = Path(path)
        self.name = self.path.stem if self.path.is_file() else self.path.name
        self.answer_kind: AnswerKind = answer_kind
        self.format: Literal["jsonl", "datasets"] = "jsonl" if self.path.is_file() else "datasets"

    def samples(self, limit: int | None = None) -> Iterator[Sample | SampleError]:
        base = self.path.parent if self.format == "jsonl" else self.path
        rows = _jsonl_rows(self.path) if self.format == "jsonl" else _dataset_rows(self.path)
        seen: set[str] = set()
        count = 0
        for fallback_id, raw in rows:
            if limit is not None and count >= limit:
                return
            count += 1
            if isinstance(raw, SampleError):
                yield raw
                continue
            try:
                sample = row_to_sample(raw, base, self.answer_kind, fallback_id)
            except SampleError as err:
                yield err
                continue
            if sample.id in seen:
                yield SampleError(f"{sample.id}@{fallback_id}", f"duplicate id {sample.id!r}")
                continue
            seen.add(sample.id)
            yield sample
