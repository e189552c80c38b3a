"""What a benchmark declares: how one published row becomes a `Sample`, and how to score it.

A `Benchmark` is data, not a class hierarchy: a converter for the dataset's real row schema,
the answer kinds it produces, whether it carries evidence boxes, its task-type tag (for the
vision veto), its hub id and evaluation split, and a dataset-level native metric.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vrprobe.tasks.base import AnswerKind, Sample, SampleError, TaskType

# (sample, its record) pairs -> the benchmark's own summary numbers.
Metrics = Callable[[Sequence[tuple[Sample, dict]]], dict[str, Any]]
# A folder layout a benchmark knows how to walk itself (V*'s image + JSON pairs).
FolderRows = Callable[[Path], Iterator[tuple[str, Any]] | None]


@dataclass(frozen=True)
class RowContext:
    """Where a row came from: `base` resolves relative image paths; `source` names the file."""

    base: Path
    split: str
    source: str = ""


@dataclass(frozen=True)
class Benchmark:
    """One published benchmark: schema converter, answer kinds, boxes, tag, native metrics."""

    name: str
    description: str
    answer_kind: AnswerKind
    kinds: tuple[AnswerKind, ...]
    boxes: bool
    task_type: TaskType
    convert: Callable[[dict, RowContext], Sample]
    metrics: Metrics
    hub_id: str | None = None
    hub_config: str | None = None
    split: str = "test"
    folder_rows: FolderRows | None = None


def need(row: dict, key: str, row_id: str) -> Any:
    """`row[key]`, or a `SampleError` naming the missing field.

    >>> need({"a": 1}, "a", "r1")
    1
    >>> need({}, "question", "r1")
    Traceback (most recent call last):
    ...
    vrprobe.tasks.base.SampleError: r1: missing field 'question'
    """
    value = row.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise SampleError(row_id, f"missing field {key!r}")
    return value
