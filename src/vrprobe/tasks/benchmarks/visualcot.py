"""Visual CoT benchmark subsets (TextVQA, DocVQA, SROIE, InfographicsVQA) with evidence boxes.

Layout: the release's benchmark JSON (`deepcs233/Visual-CoT`, `viscot_benchmark/benchmark/
<subset>.json`, a list of rows) with the images under their dataset folders (`textvqa/...`,
next to the JSON or under `images/`). Fields: `question_id`, `image` (a list: the image path,
then the CoT crop `path###[x0, y0, x1, y1]`; a plain path string is accepted), `conversations`
(human: "<image>\\nQUESTION Please provide the bounding box coordinate of the region that can
help you answer the question better."; gpt: the normalised box; human: "<image>"; gpt: the
answer), `width`, `height`, `bboxs` (list of `[x0, y0, x1, y1]` in original pixels) and
`dataset` (textvqa / docvqa / sroie / infographicsvqa / ...). JSON lines with these fields
also load.

The prompt is the question alone (the box request removed) and LLaVA's short-answer
instruction; the answer is the last gpt turn. `bboxs` become `evidence_boxes`, checked against
the image. Scoring: exact match and token F1 over the references (`vrprobe.tasks.scoring`);
mean EM and F1 overall and per dataset tag. Each subset task (`visualcot-textvqa`, ...)
accepts only its own rows (others become error records naming the right task); `visualcot`
takes any.
"""

from __future__ import annotations

from collections.abc import Sequence

from vrprobe.tasks.base import Sample, SampleError
from vrprobe.tasks.benchmarks.images import checked_boxes, image_size, image_source
from vrprobe.tasks.benchmarks.metrics import em_f1
from vrprobe.tasks.benchmarks.spec import Benchmark, RowContext, need
from vrprobe.tasks.scoring import score

SUBSETS = ("textvqa", "docvqa", "sroie", "infographicsvqa")
PROMPT = "{question}\nAnswer the question using a single word or phrase."
_BOX_REQUEST = " Please provide the bounding box coordinate of the region"


def split_turns(conversations: object, row_id: str) -> tuple[str, str]:
    """(question, answer) from VisCoT's four-turn conversation.

    >>> split_turns([{"from": "human", "value": "<image>\\nWhat is the price?" + _BOX_REQUEST +
    ...   " that can help you answer the question better."}, {"from": "gpt", "value":
    ...   "[0.1, 0.2, 0.3, 0.4]"}, {"from": "human", "value": "<image>"},
    ...   {"from": "gpt", "value": "$3.50"}], "r")
    ('What is the price?', '$3.50')
    """
    if not isinstance(conversations, list) or len(conversations) < 2:
        raise SampleError(row_id, "field 'conversations': expected a list of turns")
    human = [t.get("value", "") for t in conversations if t.get("from") == "human"]
    gpt = [t.get("value", "") for t in conversations if t.get("from") == "gpt"]
    if not human or not gpt:
        raise SampleError(row_id, "field 'conversations': needs a human and a gpt turn")
    question = human[0].replace("<image>", "").split(_BOX_REQUEST)[0].strip()
    answer = str(gpt[-1]).strip()
    if not question or not answer:
        raise SampleError(row_id, "field 'conversations': empty question or answer")
    return question, answer


def _image_path(value: object) -> object:
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    return value.split("###")[0] if isinstance(value, str) else value


def _convert(row: dict, ctx: RowContext, subset: str | None) -> Sample:
    row_id = str(need(row, "question_id", str(row.get("_key", ""))))
    tag = str(row.get("dataset") or "")
    if subset is not None and tag and tag != subset:
        raise SampleError(row_id, f"row of dataset {tag!r}, not {subset!r}: use --task "
                                  f"visualcot-{tag} (or visualcot for any subset)")  # fmt: skip
    question, answer = split_turns(row.get("conversations"), row_id)
    source = image_source(_image_path(row.get("image")), ctx.base, row_id)
    raw = row.get("bboxs")
    if not raw:
        raise SampleError(row_id, "field 'bboxs': no evidence box")
    boxes = checked_boxes(raw, image_size(source, row_id), row_id)
    return Sample(
        id=row_id,
        image=source,
        question=PROMPT.format(question=question),
        answers=(answer,),
        evidence_boxes=boxes,
        task_type="visual",
        question_type=tag or (subset or ""),
        answer_kind="text",
        meta={"dataset": tag or (subset or ""), "question": question},
    )


def metrics(pairs: Sequence[tuple[Sample, dict]]) -> dict:
    """Mean exact match and token F1 over the references, overall and per dataset tag."""
    verdicts = [score(r.get("prediction"), list(s.answers), "text") for s, r in pairs]
    return em_f1(
        [v.correct for v in verdicts],
        [v.f1 or 0.0 for v in verdicts],
        [s.meta["dataset"] for s, _ in pairs],
    )


def _benchmark(subset: str | None) -> Benchmark:
    label = subset or "all subsets"
    return Benchmark(
        name=f"visualcot-{subset}" if subset else "visualcot",
        description=f"Visual CoT benchmark ({label}): short answers, EM / token F1; evidence boxes",
        answer_kind="text",
        kinds=("text",),
        boxes=True,
        task_type="visual",
        convert=lambda row, ctx: _convert(row, ctx, subset),
        metrics=metrics,
        hub_id=None,
        split="test",
    )


VISUALCOT = [_benchmark(None)] + [_benchmark(s) for s in SUBSETS]
