"""POPE and RePOPE: yes/no object-existence questions on COCO val2014 images.

Layouts: the hub parquet `lmms-lab/POPE` (`id`, `question_id`, `question`, `answer`,
`image_source`, `image`, `category`), or the original JSON-lines files
(`coco_pope_{random,popular,adversarial}.json`, RePOPE's `coco_repope_*.json`: `question_id`,
`image`, `text`, `label`; the category comes from the file name) with the COCO images next to
the file or under `images/`. Scoring: yes/no from the first sentence; accuracy, precision,
recall, F1 (positive = yes) and yes-ratio, overall and per category.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from vrprobe.tasks.base import Sample, SampleError
from vrprobe.tasks.benchmarks.images import image_source
from vrprobe.tasks.benchmarks.spec import Benchmark, RowContext, need
from vrprobe.tasks.scoring_yesno import extract_yesno, pope_metrics

PROMPT = "{question}\nAnswer the question using a single word or phrase."
_CATEGORY = re.compile(r"(random|popular|adversarial)", re.IGNORECASE)


def _category(row: dict, ctx: RowContext) -> str:
    if row.get("category"):
        return str(row["category"])
    m = _CATEGORY.search(ctx.source.rsplit("/", 1)[-1])
    return m.group(1).lower() if m else ""


def convert(row: dict, ctx: RowContext) -> Sample:
    """One POPE row (hub or original format) -> a yes/no `Sample`."""
    qid = row.get("question_id", row.get("id"))
    category = _category(row, ctx)
    row_id = str(row.get("id") or (f"{category}-{qid}" if category else qid))
    question = need(row, "question" if "question" in row else "text", row_id)
    label = str(need(row, "answer" if "answer" in row else "label", row_id))
    if extract_yesno(label, strict=True) is None:
        raise SampleError(row_id, f"field 'answer': {label!r} is not yes/no")
    image = row.get("image")
    if image is None and row.get("image_source"):
        image = f"{row['image_source']}.jpg"
    return Sample(
        id=row_id,
        image=image_source(image, ctx.base, row_id),
        question=PROMPT.format(question=question.strip()),
        answers=(label.strip().lower(),),
        task_type="visual",
        question_type=category,
        answer_kind="yesno",
        meta={"question_id": qid, "category": category, "question_raw": question},
    )


def metrics(pairs: Sequence[tuple[Sample, dict]]) -> dict:
    """`pope_metrics` overall and per category."""
    preds = [r.get("prediction") for _, r in pairs]
    labels = [s.answers[0] for s, _ in pairs]
    out = {"all": pope_metrics(preds, labels)}
    for cat in sorted({s.question_type for s, _ in pairs} - {""}):
        idx = [i for i, (s, _) in enumerate(pairs) if s.question_type == cat]
        out[cat] = pope_metrics([preds[i] for i in idx], [labels[i] for i in idx])
    return out


POPE = Benchmark(
    name="pope",
    description="POPE object hallucination (random / popular / adversarial), COCO val2014",
    answer_kind="yesno",
    kinds=("yesno",),
    boxes=False,
    task_type="visual",
    convert=convert,
    metrics=metrics,
    hub_id="lmms-lab/POPE",
    split="test",
)

REPOPE = Benchmark(
    name="repope",
    description="RePOPE: POPE with corrected labels, ambiguous questions removed",
    answer_kind="yesno",
    kinds=("yesno",),
    boxes=False,
    task_type="visual",
    convert=convert,
    metrics=metrics,
    hub_id=None,
    split="test",
)
