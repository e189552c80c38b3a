"""HallusionBench: yes/no questions over sets of original and edited figures.

Layouts: the hub parquet `lmms-lab/HallusionBench` (split `image`), or the GitHub release's
`HallusionBench.json` (a list of rows) with its `hallusion_bench/` image folder. Fields:
`category` (VS / VD), `subcategory`, `visual_input` ("0" = text-only, "1"/"2" = with a
figure), `set_id`, `figure_id`, `question_id`, `question`, `gt_answer` ("1" yes / "0" no),
`gt_answer_details`, `filename` (e.g. `./hallusion_bench/VD/chart/0_0.png`), `image` on the hub.
Text-only rows (`visual_input` "0") have no image and become error records saying so.
Scoring: yes/no; aAcc, fAcc (figure) and qAcc (question pair), see `metrics.hallusion_metrics`.
"""

from __future__ import annotations

from collections.abc import Sequence

from vrprobe.tasks.base import Sample, SampleError
from vrprobe.tasks.benchmarks.images import image_source
from vrprobe.tasks.benchmarks.metrics import hallusion_metrics
from vrprobe.tasks.benchmarks.spec import Benchmark, RowContext, need

PROMPT = "{question}\nPlease answer yes or no."
KEYS = ("category", "subcategory", "set_id", "figure_id", "question_id")


def convert(row: dict, ctx: RowContext) -> Sample:
    """One HallusionBench row -> a yes/no `Sample` (id joins the five key fields)."""
    keys = {k: str(row.get(k, "")) for k in KEYS}
    row_id = "_".join(keys.values())
    question = need(row, "question", row_id)
    gt = str(need(row, "gt_answer", row_id)).strip()
    if gt not in ("0", "1"):
        raise SampleError(row_id, f"field 'gt_answer': {gt!r} is not '0' or '1'")
    if str(row.get("visual_input", "1")) == "0":
        raise SampleError(row_id, "text-only question (visual_input 0): no image to look at")
    image = row.get("image") or row.get("filename")
    if isinstance(image, str):
        image = image.removeprefix("./")
    return Sample(
        id=row_id,
        image=image_source(image, ctx.base, row_id),
        question=PROMPT.format(question=question.strip()),
        answers=("yes" if gt == "1" else "no",),
        task_type="visual",
        question_type=f"{keys['category']}/{keys['subcategory']}",
        answer_kind="yesno",
        meta={**keys, "visual_input": str(row.get("visual_input", ""))},
    )


def metrics(pairs: Sequence[tuple[Sample, dict]]) -> dict:
    return hallusion_metrics([{**s.meta, "correct": r.get("correct")} for s, r in pairs])


HALLUSIONBENCH = Benchmark(
    name="hallusionbench",
    description="HallusionBench: yes/no on original and edited figures; aAcc, fAcc, qAcc",
    answer_kind="yesno",
    kinds=("yesno",),
    boxes=False,
    task_type="visual",
    convert=convert,
    metrics=metrics,
    hub_id="lmms-lab/HallusionBench",
    split="image",
)
