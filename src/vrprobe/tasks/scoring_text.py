"""Free-text answer normalisation, exact match and token F1 (VQA / SQuAD conventions).

The normaliser follows the official VQA evaluation (`vqaEval.py`): lowercase, thousands
commas between digits removed, punctuation removed (a decimal point between digits survives),
the number words "none", "zero" ... "ten" mapped to digits, and the articles a/an/the dropped.
Where VQA is quirky we take the plain rule instead: apostrophes are deleted ("don't" ->
"dont"); every other non-alphanumeric character becomes a space; no contraction table.

`token_f1` is SQuAD's bag-of-tokens F1 on the normalised strings, maximised over references.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable

ARTICLES: frozenset[str] = frozenset({"a", "an", "the"})

# VQA's `manualMap`: only these number words become digits (and "none" -> "0").
VQA_NUMBER_WORDS: dict[str, str] = {
    "none": "0",
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
}

_THOUSANDS_COMMA = re.compile(r"(?<=\d),(?=\d)")
_APOSTROPHE = re.compile(r"['\u2018\u2019\u02bc`\u00b4]")
_NON_DECIMAL_DOT = re.compile(r"(?<!\d)\.|\.(?!\d)")
_NON_WORD = re.compile(r"[^\w.]|_")


def _fold(s: str) -> str:
    """NFKC + lowercase, repeated once so case folding cannot re-expose compatibility forms."""
    s = unicodedata.normalize("NFKC", s).lower()
    return unicodedata.normalize("NFKC", s).lower()


def normalize_text(s: str, drop_articles: bool = True, number_words: bool = True) -> str:
    """Normalise a free-text answer for comparison (VQA convention).

    Lowercases (after NFKC, so full-width characters fold), removes commas between digits,
    deletes apostrophes, turns other non-alphanumerics into spaces (keeping a decimal point
    between digits), collapses spaces, maps VQA's number words to digits when `number_words`,
    and drops the articles a/an/the when `drop_articles` (VQA and SQuAD both drop them; pass
    False for tasks where an article can be the answer). Idempotent.

    >>> normalize_text("The Cat's  hat, 1,000 and TWO dogs!")
    'cats hat 1000 and 2 dogs'
    >>> normalize_text("A dog.", drop_articles=False)
    'a dog'
    """
    s = _fold(s)
    s = _THOUSANDS_COMMA.sub("", s)
    s = _APOSTROPHE.sub("", s)
    s = _NON_DECIMAL_DOT.sub(" ", s)
    s = _NON_WORD.sub(" ", s)
    tokens = s.split()
    if number_words:
        tokens = [VQA_NUMBER_WORDS.get(t, t) for t in tokens]
    if drop_articles:
        tokens = [t for t in tokens if t not in ARTICLES]
    return " ".join(tokens)


def _as_list(references: str | Iterable[str]) -> list[str]:
    return [references] if isinstance(references, str) else list(references)


def exact_match(pred: str, references: str | Iterable[str]) -> bool:
    """True when the normalised prediction equals any normalised reference.

    Several references are allowed because VQA-style datasets list alternatives; an empty
    reference list never matches.

    >>> exact_match("The answer: Red.", ["red", "crimson"])
    False
    >>> exact_match("  RED. ", ["red", "crimson"])
    True
    """
    p = normalize_text(pred)
    return any(p == normalize_text(r) for r in _as_list(references))


def _f1(pred_tokens: list[str], ref_tokens: list[str]) -> float:
    if not pred_tokens or not ref_tokens:  # SQuAD: both empty -> 1, one empty -> 0
        return float(pred_tokens == ref_tokens)
    same = sum((Counter(pred_tokens) & Counter(ref_tokens)).values())
    if same == 0:
        return 0.0
    precision = same / len(pred_tokens)
    recall = same / len(ref_tokens)
    return 2 * precision * recall / (precision + recall)


def token_f1(pred: str, references: str | Iterable[str]) -> float:
    """SQuAD-style bag-of-tokens F1 of the normalised strings, maximised over references.

    Partial credit for answers that overlap the reference ("red car" vs "the red truck" ->
    0.5). Returns 0.0 for an empty reference list.

    >>> token_f1("red car", ["the red truck", "blue"])
    0.5
    >>> token_f1("Red!", "red")
    1.0
    """
    p = normalize_text(pred).split()
    return max((_f1(p, normalize_text(r).split()) for r in _as_list(references)), default=0.0)
