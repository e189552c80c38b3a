"""MMMU and MMMU-Pro: college-level multiple-choice (up to 10 options) and open questions.

MMMU layouts: the hub parquet (`MMMU/MMMU` snapshot: `<Subject>/validation-*.parquet`; or
`HuggingFaceM4/MMMU`: `data/validation-*.parquet`), a saved folder, or JSON(L) with image
paths. Fields: `id` ("validation_Accounting_1"), `question` (with `<image 1>` placeholders),
`options` (a stringified Python list, "['a', 'b']"), `explanation`, `image_1`..`image_7`,
`img_type`, `answer` (a letter, or free text for open questions), `topic_difficulty`,
`question_type` ("multiple-choice" / "open"), `subfield`.

MMMU-Pro (`MMMU/MMMU_Pro`, split `test`): config "standard (10 options)" has MMMU's fields with
`subject` instead of `question_type` / `subfield` (always multiple choice, up to 10 options);
config "vision" has `id`, `image` (a screenshot holding question and options), `options`,
`answer`, `subject`. Prompts are the official direct-answer ones (MMMU's llava config,
MMMU-Pro's `prompts.yaml`).

One image per prompt: the model layer feeds a single image, so every row is asked with its
first image (`image_1`), as MMMU's own single-image evaluation does (`process_single_sample`
passes `image_1`); `<image k>` placeholders become "[image]" (MMMU-Pro's inference does the
same). Rows that have or cite several images are kept, counted in `meta["n_images"]`, and the
native metrics report how many there were (`multi_image_rows`) so the share answered with
partial visual input is visible.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence

from vrprobe.tasks.base import Sample, SampleError
from vrprobe.tasks.benchmarks.images import image_source
from vrprobe.tasks.benchmarks.metrics import accuracy_by
from vrprobe.tasks.benchmarks.mmmu_eval import eval_open, parse_choice, parse_open
from vrprobe.tasks.benchmarks.spec import Benchmark, RowContext, need
from vrprobe.tasks.scoring import Score

LETTERS = "ABCDEFGHIJ"
_PLACEHOLDER = re.compile(r"<image\s*(\d+)>")
MC_PROMPT = (
    "{question}\n\n{options}\n\nAnswer with the option's letter from the given choices directly."
)
OPEN_PROMPT = "{question}\n\nAnswer the question using a single word or phrase."
PRO_PROMPT = "{question}\n{options}\nAnswer with the option letter from the given choices directly."
PRO_VISION_PROMPT = (
    "Answer with the option letter from the given choices directly. The last line of your "
    "response should be of the following format: 'Answer: $LETTER' (without quotes) where "
    "LETTER is one of options."
)
DOMAINS = {
    "Art and Design": ("Art", "Art_Theory", "Design", "Music"),
    "Business": ("Accounting", "Economics", "Finance", "Manage", "Marketing"),
    "Science": ("Biology", "Chemistry", "Geography", "Math", "Physics"),
    "Health and Medicine": ("Basic_Medical_Science", "Clinical_Medicine",
                            "Diagnostics_and_Laboratory_Medicine", "Pharmacy", "Public_Health"),
    "Humanities and Social Science": ("History", "Literature", "Sociology", "Psychology"),
    "Tech and Engineering": ("Agriculture", "Architecture_and_Engineering", "Computer_Science",
                             "Electronics", "Energy_and_Power", "Materials",
                             "Mechanical_Engineering"),
}  # fmt: skip


def parse_options(raw: object, row_id: str) -> list[str]:
    """`options` as a list: MMMU stores a stringified Python list.

    >>> parse_options("['4 m', \\"8 m\\"]", "r")
    ['4 m', '8 m']
    """
    if isinstance(raw, str):
        try:
            raw = ast.literal_eval(raw) if raw.strip() else []
        except (ValueError, SyntaxError) as exc:
            raise SampleError(
                row_id, f"field 'options': not a Python list literal: {exc}"
            ) from None
    if not isinstance(raw, list | tuple):
        raise SampleError(row_id, f"field 'options': expected a list, got {type(raw).__name__}")
    if len(raw) > len(LETTERS):
        raise SampleError(row_id, f"field 'options': {len(raw)} options, at most 10 (A-J)")
    return [str(o) for o in raw]


def subject_of(row_id: str) -> str:
    """The subject in an MMMU id ("validation_Art_Theory_12" -> "Art_Theory").

    >>> subject_of("validation_Art_Theory_12"), subject_of("odd")
    ('Art_Theory', '')
    """
    m = re.match(r"^[a-z]+_(.+?)_\d+$", row_id)
    return m.group(1) if m else ""


def _first_image(row: dict, texts: Sequence[str], row_id: str) -> tuple[object, str, int]:
    """The first image of the row (`image_1`, else the lowest filled one), its field name and
    how many distinct images the row has or cites (MMMU's single-image protocol)."""
    filled = [k for k in range(1, 8) if row.get(f"image_{k}") is not None]
    cited = {int(n) for t in texts for n in _PLACEHOLDER.findall(t)}
    if not filled:
        raise SampleError(row_id, "no image: fields image_1..image_7 are empty")
    return row[f"image_{filled[0]}"], f"image_{filled[0]}", len(set(filled) | cited)


def _mmmu_score(sample: Sample, prediction: str | None, pro: bool) -> Score:
    if prediction is None:
        return Score(False, None)
    if sample.meta["question_type"] == "open":
        preds = parse_open(prediction)
        return Score(eval_open(list(sample.answers), preds), str(preds[0]) if preds else None)
    letter = parse_choice(prediction, list(sample.choices), pro=pro)
    return Score(letter is not None and letter in sample.answers, letter)


def mmmu_score(sample: Sample, prediction: str | None) -> Score:
    """MMMU's verdict (`mmmu_eval`): option letter for multiple choice, number / substring
    match for open questions."""
    return _mmmu_score(sample, prediction, pro=False)


def mmmu_pro_score(sample: Sample, prediction: str | None) -> Score:
    """MMMU-Pro's verdict: its parser (the last "Answer: X" first), then letter equality."""
    return _mmmu_score(sample, prediction, pro=True)


def _gold(row: dict, qtype: str, n_options: int, row_id: str) -> tuple[str, ...]:
    answer = str(need(row, "answer", row_id)).strip()
    if qtype == "open":
        if answer.startswith("["):
            try:
                return tuple(str(a) for a in ast.literal_eval(answer))
            except (ValueError, SyntaxError):
                pass
        return (answer,)
    if len(answer) != 1 or answer not in LETTERS[:n_options]:
        raise SampleError(
            row_id, f"field 'answer': {answer!r} is not one of {LETTERS[:n_options]!r}"
        )
    return (answer,)


def _convert(row: dict, ctx: RowContext, variant: str) -> Sample:
    row_id = str(need(row, "id", str(row.get("_key", ""))))
    options = parse_options(row.get("options", "[]"), row_id)
    subject = str(row.get("subject") or subject_of(row_id))
    qtype = str(row.get("question_type") or "multiple-choice")
    if variant == "vision":
        image, field, prompt, n_images = row.get("image"), "image", PRO_VISION_PROMPT, 1
    else:
        question = str(need(row, "question", row_id))
        image, field, n_images = _first_image(row, [question, *options], row_id)
        text = _PLACEHOLDER.sub("[image]", question).strip()
        listed = [_PLACEHOLDER.sub("[image]", o) for o in options]
        if variant == "pro":
            lines = "\n".join(f"{LETTERS[i]}. {o}" for i, o in enumerate(listed))
            prompt = PRO_PROMPT.format(question=text, options=lines)
        elif qtype == "open":
            prompt = OPEN_PROMPT.format(question=text)
        else:
            lines = "\n".join(f"({LETTERS[i]}) {o}" for i, o in enumerate(listed))
            prompt = MC_PROMPT.format(question=text, options=lines)
    if qtype != "open" and not options:
        raise SampleError(row_id, "multiple-choice question without options")
    return Sample(
        id=row_id,
        image=image_source(image, ctx.base, row_id, field),
        question=prompt,
        answers=_gold(row, qtype, len(options), row_id),
        choices=tuple(options) if qtype != "open" else (),
        task_type="visual",
        question_type=qtype,
        answer_kind="text" if qtype == "open" else "option",
        meta={"subject": subject, "question_type": qtype, "subfield": row.get("subfield"),
              "img_type": row.get("img_type"), "difficulty": row.get("topic_difficulty"),
              "n_images": n_images},
        scorer=mmmu_score if variant == "mmmu" else mmmu_pro_score,
    )  # fmt: skip


def metrics(pairs: Sequence[tuple[Sample, dict]]) -> dict:
    """Accuracy overall, per subject and per MMMU discipline ("Overall-<domain>")."""
    correct = [bool(r.get("correct")) for _, r in pairs]
    subjects = [s.meta["subject"] for s, _ in pairs]
    out: dict = dict(accuracy_by(correct, subjects))
    for domain, members in DOMAINS.items():
        hits = [ok for ok, subj in zip(correct, subjects, strict=True) if subj in members]
        if hits:
            out[f"Overall-{domain}"] = sum(hits) / len(hits)
    out["multi_image_rows"] = sum(s.meta.get("n_images", 1) > 1 for s, _ in pairs)
    return out


def _benchmark(name: str, variant: str, description: str, **hub) -> Benchmark:
    return Benchmark(
        name=name,
        description=description,
        answer_kind="option",
        kinds=("option", "text") if variant == "mmmu" else ("option",),
        boxes=False,
        task_type="visual",
        convert=lambda row, ctx: _convert(row, ctx, variant),
        metrics=metrics,
        **hub,
    )


MMMU = _benchmark(
    "mmmu",
    "mmmu",
    "MMMU validation: college-level multiple choice (A-J) and open questions, native parsing",
    hub_id="HuggingFaceM4/MMMU",
    split="validation",
)
MMMU_PRO = _benchmark(
    "mmmu-pro",
    "pro",
    "MMMU-Pro standard (10 options): multiple choice A-J, MMMU-Pro's parser",
    hub_id="MMMU/MMMU_Pro",
    hub_config="standard (10 options)",
    split="test",
)
MMMU_PRO_VISION = _benchmark(
    "mmmu-pro-vision",
    "vision",
    "MMMU-Pro vision: question and options shown only in the image; MMMU-Pro's parser",
    hub_id="MMMU/MMMU_Pro",
    hub_config="vision",
    split="test",
)
