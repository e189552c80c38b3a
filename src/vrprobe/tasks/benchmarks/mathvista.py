"""MathVista (testmini): math questions over figures; choice, integer, float and text answers.

Layouts: the hub parquet `AI4Math/MathVista` (split `testmini`; `decoded_image` is the image
struct, `image` its relative path such as `images/1.jpg`), or `testmini.json` (a dict keyed by
pid or a list) with an `images/` folder. Fields: `pid`, `question`, `image`, `decoded_image`,
`choices` (list or None), `unit`, `precision`, `answer`, `question_type` (multi_choice /
free_form), `answer_type` (text / integer / float / list), `metadata`, `query` (the official
prompt with its hint; used as the prompt when present).

Native scoring (MathVista's `normalize_extracted_answer` + `safe_equal`), with rule-based
extraction instead of the GPT extractor: multi_choice -> the option letter (or the choice
text; else the most similar choice) mapped to its choice text, equal to `answer`; integer ->
`str(int(float(x)))`; float -> `str(round(float(x), precision))`; text / list -> normalised
string equality.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from vrprobe.tasks.base import Sample
from vrprobe.tasks.benchmarks.images import image_source
from vrprobe.tasks.benchmarks.metrics import accuracy_by
from vrprobe.tasks.benchmarks.spec import Benchmark, RowContext, need
from vrprobe.tasks.scoring import (
    Score,
    extract_number,
    extract_option,
    normalize_text,
    strip_answer_marker,
)

LETTERS = "ABCDEFGHIJ"
_KIND = {"multi_choice": "option", "integer": "number", "float": "number"}


def _normalise(prediction: str, sample: Sample) -> str | None:
    """The prediction in the reference's canonical form (MathVista's normalisation).

    >>> s = Sample("1", None, "q", ("1.5",), meta={"question_type": "free_form",
    ...            "answer_type": "float", "precision": 1})
    >>> _normalise("The answer is 1.46", s), _normalise("none", s)
    ('1.5', '0.0')
    """
    meta = sample.meta
    if meta["question_type"] == "multi_choice":
        choices = list(sample.choices)
        letter = extract_option(prediction, choices)
        if letter is not None:
            return choices[LETTERS.index(letter)]
        scores = [difflib.SequenceMatcher(None, prediction, c).ratio() for c in choices]
        return choices[scores.index(max(scores))] if choices else None
    if meta["answer_type"] in ("integer", "float"):
        value = extract_number(prediction)
        if value is None:
            return None
        if meta["answer_type"] == "integer":
            return str(int(value))
        return str(round(value, int(meta.get("precision") or 0)))
    return normalize_text(strip_answer_marker(prediction)) or None


def mathvista_score(sample: Sample, prediction: str | None) -> Score:
    """MathVista's verdict: normalised prediction equals the reference string.

    >>> s = Sample("1", None, "q", ("14",), meta={"question_type": "free_form",
    ...            "answer_type": "integer", "precision": None})
    >>> mathvista_score(s, "So there are 14.0 cubes.").correct
    True
    """
    if prediction is None:
        return Score(False, None)
    norm = _normalise(prediction, sample)
    gold = sample.answers[0]
    if (
        sample.meta["answer_type"] in ("text", "list")
        and sample.meta["question_type"] != "multi_choice"
    ):
        gold = normalize_text(gold)
    return Score(norm is not None and norm == gold, norm)


def _prompt(row: dict, question: str, choices: list[str]) -> str:
    if row.get("query"):
        return str(row["query"])
    lines = [f"Question: {question}"]
    if choices:
        lines += ["Choices:"] + [f"({LETTERS[i]}) {c}" for i, c in enumerate(choices)]
    return "\n".join(lines)


def convert(row: dict, ctx: RowContext) -> Sample:
    row_id = str(row.get("pid") or row.get("_key") or "")
    question = need(row, "question", row_id)
    answer = str(need(row, "answer", row_id))
    qtype = str(need(row, "question_type", row_id))
    atype = str(need(row, "answer_type", row_id))
    choices = [str(c) for c in (row.get("choices") or [])]
    image = row.get("decoded_image") or row.get("image")
    precision = row.get("precision")
    return Sample(
        id=row_id,
        image=image_source(image, ctx.base, row_id, "decoded_image"),
        question=_prompt(row, question, choices),
        answers=(answer,),
        choices=tuple(choices),
        task_type="visual",
        question_type=qtype if qtype == "multi_choice" else atype,
        answer_kind=_KIND.get(qtype if qtype == "multi_choice" else atype, "text"),
        meta={
            "question_type": qtype,
            "answer_type": atype,
            "precision": precision,
            "unit": row.get("unit"),
        },
        scorer=mathvista_score,
    )


def metrics(pairs: Sequence[tuple[Sample, dict]]) -> dict:
    """Accuracy overall and per question type / answer type."""
    return accuracy_by(
        [bool(r.get("correct")) for _, r in pairs], [s.question_type for s, _ in pairs]
    )


MATHVISTA = Benchmark(
    name="mathvista",
    description="MathVista testmini: choice / integer / float / text answers, native normalisation",
    answer_kind="text",
    kinds=("option", "number", "text"),
    boxes=False,
    task_type="symbolic",
    convert=convert,
    metrics=metrics,
    hub_id="AI4Math/MathVista",
    split="testmini",
)
