"""User-defined tasks from a YAML file (`vrprobe run --task my_task.yaml`).

The file names the data (any `--data` layout: JSONL / JSON / TSV / parquet / saved folder,
relative to the YAML file), maps the row's fields onto a sample, and sets the prompt
template, answer kind and task type. It is validated with pydantic when the task resolves,
before any model loads; an error names the field and the allowed values.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from vrprobe.tasks.base import Sample, SampleError
from vrprobe.tasks.benchmarks.images import checked_boxes, image_size, image_source, xywh_to_xyxy
from vrprobe.tasks.benchmarks.metrics import accuracy_by
from vrprobe.tasks.benchmarks.spec import Benchmark, RowContext, need

LETTERS = "ABCDEFGHIJ"


class FieldMap(BaseModel):
    """Which row field feeds each part of a sample (only `question`, `image`, `answers`
    are required; `answers` may hold a string or a list)."""

    model_config = ConfigDict(extra="forbid")
    id: str | None = None
    image: str
    question: str
    answers: str
    choices: str | None = None
    evidence_boxes: str | None = None
    question_type: str | None = None


class TaskFile(BaseModel):
    """The YAML schema of a user task."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    data: str = Field(min_length=1, description="data path, relative to the YAML file")
    split: str = "test"
    fields: FieldMap
    prompt: str = "{question}"
    answer_kind: Literal["text", "yesno", "option", "number"] = "text"
    task_type: Literal["visual", "symbolic"] = "visual"
    box_format: Literal["xyxy", "xywh"] = "xyxy"

    @field_validator("prompt")
    @classmethod
    def _placeholders(cls, v: str) -> str:
        try:
            names = [f for _, f, _, _ in string.Formatter().parse(v) if f is not None]
        except ValueError as exc:
            raise ValueError(f"not a valid template: {exc}") from None
        if "question" not in names:
            raise ValueError("must contain {question}")
        return v


def _convert(spec: TaskFile, row: dict, ctx: RowContext) -> Sample:
    f = spec.fields
    row_id = str(row.get(f.id)) if f.id and row.get(f.id) is not None else str(row.get("_key"))
    question = str(need(row, f.question, row_id))
    answers = need(row, f.answers, row_id)
    answers = tuple(str(a) for a in answers) if isinstance(answers, list) else (str(answers),)
    choices = tuple(str(c) for c in (row.get(f.choices) or [])) if f.choices else ()
    options = "\n".join(f"({LETTERS[i]}) {c}" for i, c in enumerate(choices[: len(LETTERS)]))
    values = {k: v for k, v in row.items() if isinstance(k, str)}
    try:
        prompt = spec.prompt.format(**{**values, "question": question, "choices": options})
    except (KeyError, IndexError) as exc:
        raise SampleError(row_id, f"prompt placeholder {exc} is not a field of the row") from None
    source = image_source(row.get(f.image), ctx.base, row_id, f.image)
    boxes: tuple = ()
    if f.evidence_boxes and row.get(f.evidence_boxes):
        raw = [list(b) for b in row[f.evidence_boxes]]
        raw = [xywh_to_xyxy(b) for b in raw] if spec.box_format == "xywh" else raw
        boxes = checked_boxes(raw, image_size(source, row_id), row_id)
    return Sample(
        id=row_id,
        image=source,
        question=prompt,
        answers=answers,
        choices=choices,
        evidence_boxes=boxes,
        task_type=spec.task_type,
        question_type=str(row.get(f.question_type) or "") if f.question_type else "",
        answer_kind=spec.answer_kind,
    )


def _metrics(pairs) -> dict:
    return accuracy_by(
        [bool(r.get("correct")) for _, r in pairs], [s.question_type for s, _ in pairs]
    )


def format_errors(exc: ValidationError, path: Path) -> str:
    lines = [f"{path}: invalid task file"]
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "file"
        lines.append(f"  {where}: {err['msg']} (got {err.get('input')!r})")
    return "\n".join(lines)


def load_task_file(path: Path) -> tuple[Benchmark, str]:
    """(the `Benchmark` the YAML describes, its data path resolved against the file).

    Raises ValueError naming the bad field and, for choices, the allowed values.
    """
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: cannot read the task file: {exc}") from None
    try:
        spec = TaskFile.model_validate(raw if raw is not None else {})
    except ValidationError as exc:
        raise ValueError(format_errors(exc, path)) from None
    data = Path(spec.data).expanduser()
    data = data if data.is_absolute() else path.parent / data
    bench = Benchmark(
        name=spec.name,
        description=f"user task from {path.name}",
        answer_kind=spec.answer_kind,
        kinds=(spec.answer_kind,),
        boxes=spec.fields.evidence_boxes is not None,
        task_type=spec.task_type,
        convert=lambda row, ctx: _convert(spec, row, ctx),
        metrics=_metrics,
        split=spec.split,
    )
    return bench, str(data)
