"""V*Bench: small details in high-resolution images, four-way (attributes) or two-way
(relative position) multiple choice, with the target objects' boxes.

Layouts (hub `craigwu/vstar_bench`, split `test`):

- the hub snapshot: `test_questions.jsonl` (`image` such as `direct_attributes/sa_4690.jpg`,
  `text` = question, "(A) ..." option lines and the answer instruction, `category`
  direct_attributes / relative_position, `question_id`, `label` letter), with each image's
  annotation next to it (`direct_attributes/sa_4690.json`: `target_object` list, `bbox` list
  of `[x, y, w, h]` in original pixels, `question`, `options` with the correct one first);
- the image + annotation folders alone (no `test_questions.jsonl`): each `*/sa_*.json` is a
  row; options keep the release's order, so the label is "A", as in V*'s own evaluation,
  which scores the first option as the correct one;
- parquet copies (e.g. `lmms-lab/vstar-bench`: `image` struct, `text`, `label`, `category`,
  `question_id`), which carry no boxes.

Boxes become `evidence_boxes` (xyxy, original pixels), clipped to the image (annotations may
overrun an edge by a pixel), so the evidence signals run on V*. Scoring: option letter
(`vrprobe.tasks.scoring_option`); accuracy overall and per category.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from vrprobe.tasks.base import Sample, SampleError
from vrprobe.tasks.benchmarks.images import checked_boxes, image_size, image_source, xywh_to_xyxy
from vrprobe.tasks.benchmarks.metrics import accuracy_by
from vrprobe.tasks.benchmarks.spec import Benchmark, RowContext, need

INSTRUCTION = "Answer with the option's letter from the given choices directly."
CATEGORIES = ("direct_attributes", "relative_position")
_OPTION_LINE = re.compile(r"^\(([A-J])\)\s*(.*)$")


def parse_text(text: str) -> tuple[str, list[str]]:
    """(question, options) from V*'s `text` ("Q\\n(A) x\\n(B) y\\nAnswer with ...").

    >>> parse_text("What colour is the cup?\\n(A) red\\n(B) blue\\n" + INSTRUCTION)
    ('What colour is the cup?', ['red', 'blue'])
    """
    question, options = [], []
    for line in text.splitlines():
        m = _OPTION_LINE.match(line.strip())
        if m:
            options.append(m.group(2).strip())
        elif line.strip() and line.strip() != INSTRUCTION and not options:
            question.append(line.strip())
    return " ".join(question), options


def clip_xyxy(box: Sequence[float], size: tuple[int, int]) -> list[float]:
    """A box clipped to a `size` (w, h) image.

    >>> clip_xyxy([-1, 2, 11, 5], (10, 8))
    [0.0, 2.0, 10.0, 5.0]
    """
    w, h = size
    x0, y0, x1, y1 = (float(v) for v in box)
    return [max(0.0, x0), max(0.0, y0), min(float(w), x1), min(float(h), y1)]


def _annotation(image: Any, base: Path) -> dict:
    if not isinstance(image, str):
        return {}
    path = (base / image).with_suffix(".json")
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def convert(row: dict, ctx: RowContext) -> Sample:
    """One V* row (question file or annotation walk) -> an option `Sample` with its boxes."""
    category = str(row.get("category") or "")
    row_id = f"{category}-{row.get('question_id', row.get('_key', ''))}".strip("-")
    text = str(need(row, "text", row_id))
    label = str(need(row, "label", row_id)).strip().upper()
    question, options = parse_text(text)
    if not options:
        raise SampleError(row_id, "field 'text': no '(A) ...' option lines")
    if label not in "ABCDEFGHIJ"[: len(options)] or len(label) != 1:
        raise SampleError(row_id, f"field 'label': {label!r} is not one of the option letters")
    source = image_source(row.get("image"), ctx.base, row_id)
    note = row if "bbox" in row else _annotation(row.get("image"), ctx.base)
    boxes: tuple = ()
    if note.get("bbox"):
        size = image_size(source, row_id)
        raw = note["bbox"]
        raw = [raw] if raw and not isinstance(raw[0], list | tuple) else raw
        boxes = checked_boxes([clip_xyxy(xywh_to_xyxy(b), size) for b in raw], size, row_id)
    targets = note.get("target_object") or []
    return Sample(
        id=row_id,
        image=source,
        question=text,
        answers=(label,),
        choices=tuple(options),
        evidence_boxes=boxes,
        task_type="visual",
        question_type=category,
        answer_kind="option",
        meta={"category": category, "question": question,
              "target_object": [str(t) for t in targets]},
    )  # fmt: skip


def annotation_rows(folder: Path) -> Iterator[tuple[str, Any]] | None:
    """Rows from V*'s image + annotation folders when the folder has no question file."""
    if (folder / "test_questions.jsonl").is_file() or any(folder.glob("*.parquet")):
        return None
    notes = sorted(p for c in CATEGORIES for p in (folder / c).glob("*.json"))
    if not notes:
        return None

    def walk() -> Iterator[tuple[str, Any]]:
        for number, path in enumerate(notes, start=1):
            try:
                note = json.loads(path.read_text(encoding="utf-8"))
                options = [str(o) for o in note["options"]]
                lines = [str(note["question"])]
                lines += [f"({'ABCDEFGHIJ'[i]}) {o}" for i, o in enumerate(options)]
            except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
                yield path.stem, SampleError(path.stem, f"{path.name}: bad annotation: {exc}")
                continue
            image = next((str(p.relative_to(folder)) for p in path.parent.glob(
                f"{path.stem}.*") if p.suffix.lower() != ".json"), f"{path.stem}.jpg")  # fmt: skip
            text = "\n".join([*lines, INSTRUCTION])
            row = {"image": image, "label": "A", "text": text, "category": path.parent.name}
            yield f"row-{number}", {**note, **row, "question_id": path.stem}

    return walk()


def metrics(pairs: Sequence[tuple[Sample, dict]]) -> dict:
    """Accuracy overall and per category."""
    return accuracy_by(
        [bool(r.get("correct")) for _, r in pairs], [s.question_type for s, _ in pairs]
    )


VSTAR = Benchmark(
    name="vstar",
    description="V*Bench: details in high-resolution images, option letter; target boxes",
    answer_kind="option",
    kinds=("option",),
    boxes=True,
    task_type="visual",
    convert=convert,
    metrics=metrics,
    hub_id="craigwu/vstar_bench",
    split="test",
    folder_rows=annotation_rows,
)
