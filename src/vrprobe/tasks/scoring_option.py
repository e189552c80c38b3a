"""Option-letter extraction for multiple-choice answers (MMMU, V*Bench, MathVista choices).

Rules, first hit wins (only letters valid for the question count: `letters`, cut to the
number of choices when choices are given):

1. the whole answer is a letter: "B", "(B)", "B.", "**B**", "[b]";
2. an answer marker, last occurrence: "Answer: B", "The answer is (C).", "answer is B because";
   then weaker markers ("option B", "I choose B");
3. the first line starts with a letter and a delimiter: "B) blue", "A. red", "(C) dog";
4. the last non-empty line is a lone letter (reasoning, then the letter);
5. exactly one distinct parenthesised letter anywhere: "I'd go with (D) here";
6. with `choices`: the answer equals a choice's text, or contains exactly one choice's text
   as whole words (a longer choice wins over one it contains: "light blue" over "blue");
7. exactly one distinct stand-alone capital letter anywhere.

"A" and "I" followed by a lowercase word are read as the article / pronoun, not as options
("A cat is on the mat." -> None) unless the word is a connective ("A because ...",
"A is correct"); a lowercase letter only counts when delimited ("answer: b", "(b)").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from vrprobe.tasks.scoring_text import normalize_text

_CONNECTIVE_WORDS = (
    "because since as is was would should seems seem which that and or according based "
    "given from with for here there matches corresponds best fits"
)
_CONNECTIVES = frozenset(_CONNECTIVE_WORDS.split())
_WHOLE = re.compile(r"^[\s(\[{<\"']*([A-Za-z])[\s)\]}>\"'.,:;!]*$")
_LETTER = r"(?P<open>[(\[]\s*)?(?P<letter>[A-Za-z])(?![\w'])"
_STRONG = re.compile(
    r"\banswer(?:\s+(?:is|would\s+be|should\s+be|will\s+be)\b)?\s*(?:option|choice)?\s*"
    r"[:=]?\s*" + _LETTER,
    re.IGNORECASE,
)
_WEAK = re.compile(
    r"\b(?:option|choice|choose|select|pick|go\s+with)\s*(?:is\b)?\s*[:=]?\s*" + _LETTER,
    re.IGNORECASE,
)
_LEADING = re.compile(r"^\s*(?:[(\[]\s*([A-Za-z])\s*[)\]]|([A-Za-z])\s*[).:](?=\s|$))")
_PAREN = re.compile(r"[(\[]\s*([A-Z])\s*[)\]]")
_CAPITAL = re.compile(r"(?<![\w'])([A-Z])(?![\w'])")
_CHOICE_PREFIX = re.compile(r"^\s*\(?[A-Za-z][).:]\s+")


def _plausible(text: str, m: re.Match[str], group: str | int = "letter") -> bool:
    """Whether the letter matched in `text` reads as an option rather than a word."""
    letter = m.group(group)
    if m.groupdict().get("open"):
        return True
    rest = text[m.end(group) :]
    if re.match(r"\s*(?:$|[.,;:!?)\]}\n]|\s[-\u2013\u2014]\s)", rest):
        return True
    nxt = re.match(r"\s+([A-Za-z]+)", rest)
    if nxt is None:
        return letter.isupper()
    if nxt.group(1).lower() in _CONNECTIVES:
        return True
    return letter.isupper() and letter not in "AI"


def _strip_markdown(s: str) -> str:
    return re.sub(r"[*_`#]+", "", unicodedata.normalize("NFKC", s))


def _choice_by_text(text: str, choices: Sequence[str], valid: str) -> str | None:
    pred = normalize_text(text)
    if not pred:
        return None
    norm = [normalize_text(_CHOICE_PREFIX.sub("", c)) for c in choices]
    for letter, c in zip(valid, norm, strict=False):
        if c and c == pred:
            return letter
    hits = [(letter, c) for letter, c in zip(valid, norm, strict=False) if c]
    hits = [(letter, c) for letter, c in hits if f" {c} " in f" {pred} "]
    hits = [(lt, c) for lt, c in hits if not any(c != o and f" {c} " in f" {o} " for _, o in hits)]
    letters = {lt for lt, _ in hits}
    return letters.pop() if len(letters) == 1 else None


def extract_option(
    s: str | None, choices: Sequence[str] | None = None, letters: str = "ABCDEFGHIJ"
) -> str | None:
    """The option letter (upper case) an answer picks, or None; see the module rules.

    `letters` are the option labels in order (ASCII letters; case-insensitive); with `choices`
    only the first `len(choices)` count, so "E" on a four-option question is None.

    >>> [extract_option(x) for x in ["(B)", "The answer is (C).", "B) blue", "A cat is here."]]
    ['B', 'C', 'B', None]
    >>> extract_option("It is light blue.", choices=["blue", "light blue", "red"])
    'B'
    """
    if s is None:
        return None
    valid = letters[: len(choices)] if choices else letters
    valid = valid.upper()
    text = _strip_markdown(s).strip()

    def ok(letter: str | None) -> str | None:
        return letter.upper() if letter and letter.upper() in valid else None

    m = _WHOLE.match(text)
    if m:
        return ok(m.group(1))
    for pattern in (_STRONG, _WEAK):
        found = [m for m in pattern.finditer(text) if _plausible(text, m) and ok(m["letter"])]
        if found:
            return ok(found[-1]["letter"])
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if lines:
        m = _LEADING.match(lines[0])
        if m and ok(m.group(1) or m.group(2)):
            return ok(m.group(1) or m.group(2))
        m = _WHOLE.match(lines[-1])
        if m and ok(m.group(1)):
            return ok(m.group(1))
    paren = {m.group(1) for m in _PAREN.finditer(text) if ok(m.group(1))}
    if len(paren) == 1:
        return paren.pop()
    if choices:
        by_text = _choice_by_text(text, choices, valid)
        if by_text:
            return by_text
    lone = {
        m.group(1) for m in _CAPITAL.finditer(text) if ok(m.group(1)) and _plausible(text, m, 1)
    }
    return lone.pop() if len(lone) == 1 else None
