"""Answer scoring: one normaliser per answer kind, a dispatcher, and POPE summary metrics.

`extract_answer` gives the canonical string used both for correctness and for
self-consistency voting (SPEC section 1: lowercase, strip non-alphanumerics, collapse spaces,
then task-aware extraction), so "Yes, there is a dog." and "yes" vote together, as do "1,000"
and "1000". `score` applies a dataset's native protocol (SPEC section 5): exact match and token
F1 over references for free text, first-sentence yes/no for POPE, option letters for MMMU /
V*Bench, tolerant numeric comparison for MathVista. The per-kind rules live in
`scoring_text`, `scoring_yesno`, `scoring_option` and `scoring_number`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from vrprobe.tasks.base import AnswerKind, Sample
from vrprobe.tasks.scoring_number import extract_number, format_number, numbers_match
from vrprobe.tasks.scoring_option import extract_option
from vrprobe.tasks.scoring_text import exact_match, normalize_text, token_f1
from vrprobe.tasks.scoring_yesno import extract_yesno, pope_metrics

__all__ = [
    "Score",
    "exact_match",
    "extract_answer",
    "extract_number",
    "extract_option",
    "extract_yesno",
    "format_number",
    "normalize_text",
    "numbers_match",
    "pope_metrics",
    "score",
    "score_sample",
    "strip_answer_marker",
    "token_f1",
]

_KINDS = ("text", "yesno", "option", "number")
_LEAD_IN = re.compile(
    r"^\s*(?:(?:the|my)\s+)?(?:final\s+|short\s+)?answer(?:\s+is\b\s*[:=]?|\s*[:=])\s*",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Score:
    """One prediction's verdict: `correct`, the canonical `extracted` answer (None when
    nothing could be extracted) and, for free text only, the best token `f1`."""

    correct: bool
    extracted: str | None
    f1: float | None = None


def strip_answer_marker(s: str) -> str:
    """Remove a leading "Answer:" / "The answer is" so free text compares on the answer.

    >>> strip_answer_marker("The answer is: Red car")
    'Red car'
    >>> strip_answer_marker("Final answer: red car")
    'red car'
    """
    return _LEAD_IN.sub("", s, count=1)


def extract_answer(
    s: str | None, kind: AnswerKind, choices: Sequence[str] | None = None
) -> str | None:
    """The canonical answer string of `s` for `kind`, or None when none can be extracted.

    text: `normalize_text` after removing a leading answer marker; yesno: "yes"/"no";
    option: the letter; number: `format_number` of the extracted value.

    >>> extract_answer("Yes, there is a dog.", "yesno"), extract_answer("1,000 cars", "number")
    ('yes', '1000')
    >>> extract_answer("The answer is (C).", "option"), extract_answer("The Eiffel Tower!", "text")
    ('C', 'eiffel tower')
    """
    if kind not in _KINDS:
        raise ValueError(f"unknown answer kind {kind!r}; expected one of {_KINDS}")
    if s is None:
        return None
    if kind == "text":
        return normalize_text(strip_answer_marker(s)) or None
    if kind == "yesno":
        return extract_yesno(s)
    if kind == "option":
        return extract_option(s, choices)
    value = extract_number(s)
    return None if value is None else format_number(value)


def _references(answers: str | Iterable[str]) -> list[str]:
    return [answers] if isinstance(answers, str) else [a for a in answers if a is not None]


def score(
    prediction: str | None,
    answers: str | Iterable[str],
    kind: AnswerKind,
    choices: Sequence[str] | None = None,
) -> Score:
    """Score one prediction against one or several references (any match counts).

    References go through the same extraction as the prediction, so an option reference may
    be a letter ("B") or the choice's text ("blue"), and a number reference may be "1,000".
    `f1` is the best token F1 for kind "text" and None otherwise.

    >>> score("Yes, there is a dog.", "yes", "yesno")
    Score(correct=True, extracted='yes', f1=None)
    >>> score("the red car", ["red truck", "a red car"], "text")
    Score(correct=True, extracted='red car', f1=1.0)
    """
    extracted = extract_answer(prediction, kind, choices)
    refs = _references(answers)
    if kind == "text":
        if extracted is None:
            return Score(False, None, 0.0)
        targets = [strip_answer_marker(r) for r in refs]
        return Score(exact_match(extracted, targets), extracted, token_f1(extracted, targets))
    if extracted is None:
        return Score(False, None)
    if kind == "number":
        value = extract_number(prediction)
        return Score(any(numbers_match(value, extract_number(r)) for r in refs), extracted)
    gold = {extract_answer(r, kind, choices) for r in refs} - {None}
    return Score(extracted in gold, extracted)


def score_sample(sample: Sample, prediction: str | None) -> Score:
    """Score a prediction for `sample`: its benchmark's native scorer when it has one,
    else `score` with the sample's answers, answer kind and choices."""
    if sample.scorer is not None:
        return sample.scorer(sample, prediction)
    return score(prediction, list(sample.answers), sample.answer_kind, list(sample.choices))
