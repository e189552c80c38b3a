"""MMMU's own answer parsing (`MMMU/eval/utils/eval_utils.py`, and MMMU-Pro's `evaluate.py`).

Re-implemented rule for rule, pure functions. One deliberate change: where the official code
draws a random letter because nothing in the reply names an option, we return None (scored
wrong), so a run's accuracy does not depend on a random seed; the official number is higher
by 1/n_options per such reply in expectation.

Multiple choice (MMMU): strip ``,.!?;:'`` from the ends, pad with spaces; candidates are the
letters written "(X)", else " X " as a word; else, for replies longer than five words, the
options whose text appears in the reply; several candidates -> the one occurring last.
MMMU-Pro first takes the unique option letter after the last "Answer:", and matches "X " and
"X." instead of " X ".

Open questions (MMMU): the reply is split into sentences; from each, the shortest tail after a
key phrase ("could be ", "so ", "is ", "thus ", "therefore ", "final ", "answer ", "result ",
and "=" in the last sentence) is kept, plus every number in it; numbers are compared rounded to
two decimals, strings by "gold is a substring of the (lower-cased) prediction".
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_STRIP = ",.!?;:'"
_KEYS = ("could be ", "so ", "is ", "thus ", "therefore ", "final ", "answer ", "result ")
_NUM_COMMAS = re.compile(r"-?\b\d{1,3}(?:,\d{3})+\b")
_NUM_SCI = re.compile(r"-?\d+(?:\.\d+)?[eE][+-]?\d+")
_NUM_SIMPLE = re.compile(r"-?(?:\d+\.\d+|\.\d+|\d+)(?![eE][+-]?\d+)(?![,\d])")


def parse_choice(response: str, options: Sequence[str], pro: bool = False) -> str | None:
    """The option letter MMMU's parser reads from `response` (None where it would guess).

    >>> opts = ["4 m", "8 m", "12 m", "16 m"]
    >>> parse_choice("(B)", opts), parse_choice("The answer is C.", opts)
    ('B', 'C')
    >>> parse_choice("I think the length is clearly 12 m overall", opts)
    'C'
    >>> parse_choice("Answer: D", opts, pro=True), parse_choice("no idea", opts)
    ('D', None)
    """
    letters = [chr(ord("A") + i) for i in range(len(options))]
    index2ans = dict(zip(letters, options, strict=True))
    if pro:
        at = response.rfind("Answer:")
        if at != -1:
            tail = response[at + len("Answer:") :].strip()
            hits = [c for c in letters if c in tail]
            if len(hits) == 1:
                return hits[0]
    for char in _STRIP:
        response = response.strip(char)
    response = f" {response} "
    by_index, bracketed = True, False
    candidates = [c for c in letters if f"({c})" in response]
    if candidates:
        bracketed = True
    if not candidates:
        pattern = "{} " if pro else " {} "
        candidates = [c for c in letters if pattern.format(c) in response]
    if not candidates and pro:
        candidates = [c for c in letters if f"{c}." in response]
    if not candidates and len(response.split()) > 5:
        candidates = [c for c, a in index2ans.items() if str(a).lower() in response.lower()]
        by_index = not candidates
    if not candidates:
        return None
    if len(candidates) == 1:
        return candidates[0]
    if not by_index:
        starts = [response.lower().rfind(str(index2ans[c]).lower()) for c in candidates]
    elif bracketed:
        starts = [response.rfind(f"({c})") for c in candidates]
    else:
        starts = [response.rfind(f" {c} ") for c in candidates]
    return candidates[starts.index(max(starts))]


def extract_numbers(text: str) -> list[str]:
    """Every number MMMU's three regexes find (thousands commas, scientific, plain), with the
    official code's overlaps kept (they only add candidates).

    >>> extract_numbers("from 1,200 to 3.5e3 and -7")
    ['1,200', '3.5e3', '200', '3', '3', '-7']
    """
    return _NUM_COMMAS.findall(text) + _NUM_SCI.findall(text) + _NUM_SIMPLE.findall(text)


def normalize_str(text: str) -> list[float | str]:
    """A number rounded to 2 decimals, else the lower-cased string (a single character padded
    with a space on either side, to avoid trivial substring matches).

    >>> normalize_str(" 1,234.567 "), normalize_str("Paris"), normalize_str("A")
    ([1234.57], ['paris'], [' a', 'a '])
    """
    text = text.strip()
    try:
        return [round(float(text.replace(",", "")), 2)]
    except ValueError:
        pass
    text = text.lower()
    return [" " + text, text + " "] if len(text) == 1 else [text]


def _key_responses(response: str) -> list[str]:
    response = response.strip().strip(".").lower()
    sentences = re.split(r"\.\s(?=[A-Z])|\n", response)
    keys = list(_KEYS)
    found = []
    for i, sentence in enumerate(sentences):
        if i == len(sentences) - 1:
            keys.append("=")
        shortest = None
        for key in keys:
            if key in sentence:
                tail = sentence.split(key)[-1].strip()
                if shortest is None or len(tail) < len(shortest):
                    shortest = tail
        if shortest and shortest.strip() not in (":", ",", ".", "!", "?", ";", "'"):
            found.append(shortest)
    return found or [response]


def parse_open(response: str) -> list[float | str]:
    """MMMU's candidate answers of an open reply (strings and numbers, de-duplicated).

    >>> sorted(map(str, parse_open("The speed is 12.5 m/s.")))
    ['12.5', '12.5 m/s']
    """
    keys = _key_responses(response)
    preds = keys + [n for k in keys for n in extract_numbers(k)]
    out: list[float | str] = []
    for p in preds:
        for v in normalize_str(p):
            if v not in out:
                out.append(v)
    return out


def eval_open(gold: str | Sequence[str], preds: Sequence[float | str]) -> bool:
    """MMMU's open verdict: a number equal to a gold number, or a gold string inside a string.

    >>> eval_open("12.5", parse_open("so v = 12.50")), eval_open("blue", ["light blue sky"])
    (True, True)
    >>> eval_open(["3", "three"], ["13"])
    False
    """
    golds = [gold] if isinstance(gold, str) else list(gold)
    norm = [v for g in golds for v in normalize_str(str(g))]
    for p in preds:
        if isinstance(p, str):
            if any(isinstance(g, str) and g in p for g in norm):
                return True
        elif p in norm:
            return True
    return False
