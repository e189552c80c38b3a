"""HR-Bench 4K / 8K: four-way multiple choice on 4K and 8K images (no boxes).

Layout: the release's VLMEvalKit TSVs `hr_bench_4k.tsv` / `hr_bench_8k.tsv` (from the hub
repo `DreamMr/HR-Bench`; download the file, `datasets` does not stream it), one row per
question: `index`, `question`, `A`, `B`, `C`, `D`, `answer` (letter), `category` ("single"
= fine-grained single-instance, "cross" = cross-instance), `cycle_category`, `image`
(base64). Also any JSON / JSONL / parquet copy with those fields (`image` may then be a path
or an image struct).

Prompt: VLMEvalKit's multiple-choice prompt ("Question: ...\\nOptions:\\nA. ...\\nPlease select
the correct answer from the options above."). Scoring: option letter
(`vrprobe.tasks.scoring_option`); accuracy overall, per category and per cycle_category.
"""

from __future__ import annotations

from collections.abc import Sequence

from vrprobe.tasks.base import Sample, SampleError
from vrprobe.tasks.benchmarks.images import image_source
from vrprobe.tasks.benchmarks.metrics import accuracy_by
from vrprobe.tasks.benchmarks.spec import Benchmark, RowContext, need

LETTERS = "ABCD"
PROMPT = (
    "Question: {question}\nOptions:\n{options}\n"
    "Please select the correct answer from the options above."
)


def convert(row: dict, ctx: RowContext) -> Sample:
    """One HR-Bench TSV row -> an option `Sample` (id = `index`)."""
    row_id = str(need(row, "index", str(row.get("_key", ""))))
    question = str(need(row, "question", row_id)).strip()
    options = [str(row[k]).strip() for k in LETTERS if row.get(k) not in (None, "")]
    if len(options) < 2:
        raise SampleError(row_id, "fields 'A'..'D': fewer than two options")
    answer = str(need(row, "answer", row_id)).strip().upper()
    if answer not in LETTERS[: len(options)] or len(answer) != 1:
        raise SampleError(row_id, f"field 'answer': {answer!r} is not one of the option letters")
    lines = "\n".join(f"{LETTERS[i]}. {o}" for i, o in enumerate(options))
    category = str(row.get("category") or "")
    return Sample(
        id=row_id,
        image=image_source(row.get("image"), ctx.base, row_id),
        question=PROMPT.format(question=question, options=lines),
        answers=(answer,),
        choices=tuple(options),
        task_type="visual",
        question_type=category,
        answer_kind="option",
        meta={"category": category, "cycle_category": str(row.get("cycle_category") or "")},
    )


def metrics(pairs: Sequence[tuple[Sample, dict]]) -> dict:
    """Accuracy overall, per category and per cycle_category ("cycle:<name>")."""
    correct = [bool(r.get("correct")) for _, r in pairs]
    out: dict = dict(accuracy_by(correct, [s.question_type for s, _ in pairs]))
    cycles = [s.meta["cycle_category"] for s, _ in pairs]
    if any(cycles):
        by_cycle = accuracy_by(correct, cycles)
        out.update({f"cycle:{k}": v for k, v in by_cycle.items() if k not in ("all", "")})
    return out


HRBENCH = Benchmark(
    name="hrbench",
    description="HR-Bench 4K / 8K (pass either TSV): four-way choice on very large images",
    answer_kind="option",
    kinds=("option",),
    boxes=False,
    task_type="visual",
    convert=convert,
    metrics=metrics,
    hub_id=None,
    split="test",
)
