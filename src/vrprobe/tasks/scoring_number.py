"""Numeric answer extraction and tolerant comparison (MathVista, counting questions).

`extract_number` reads digits with thousands separators ("1,234"), decimals, signs (also the
Unicode minus), currency and units ("$5", "12 cm"), percentages ("45%" -> 45, no scaling),
simple fractions ("3/4", "\\frac{3}{4}" -> 0.75), scale words ("1.5 million"), and English
number words ("three", "twenty-one", "one hundred and five"; "none" -> 0 as in VQA, "no" is
not a number). The answer span is the last `\\boxed{...}`, else the text after the last answer
marker ("Answer:", "the answer is"), else the whole text; the LAST number in the span is
taken (chain-of-thought ends with its result). A span without a number falls back to the whole
text.
"""

from __future__ import annotations

import math
import re
import unicodedata

_NUMBER = re.compile(
    r"(?<![\w.])(?P<sign>[-+\u2212]?)(?:[$\u20ac\u00a3\u00a5]\s?(?P<sign2>[-+\u2212]?))?"
    r"(?:(?P<num>\d+)\s*/\s*(?P<den>\d+)(?![/\d])"
    r"|(?P<val>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+(?![\w]))?|\.\d+))"
    r"(?:\s+(?P<scale>hundred|thousand|million|billion)\b)?"
)
_UNIT_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
)
_UNITS = {w: i for i, w in enumerate(_UNIT_WORDS.split())}
_UNITS["none"] = 0
_TENS_WORDS = "twenty thirty forty fifty sixty seventy eighty ninety"
_TENS = {w: 10 * i for i, w in enumerate(_TENS_WORDS.split(), 2)}
_SCALES = {"hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}
_WORD = re.compile(r"[a-z]+")
_MARKER = re.compile(r"answer\s*(?:is\b|would\s+be\b|should\s+be\b|[:=])?", re.IGNORECASE)
_BOXED = re.compile(r"\\boxed\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}")
_FRAC = re.compile(r"\\[dt]?frac\{\s*(\d+)\s*\}\{\s*(\d+)\s*\}")


def _digit_numbers(text: str) -> list[tuple[int, float]]:
    out = []
    for m in _NUMBER.finditer(text):
        if m["num"] is not None:
            den = int(m["den"])
            if den == 0:
                continue
            value = int(m["num"]) / den
        else:
            value = float(m["val"].replace(",", ""))
        if m["scale"]:
            value *= _SCALES[m["scale"]]
        if "-" in (m["sign"] + (m["sign2"] or "")).replace("\u2212", "-"):
            value = -value
        out.append((m.start(), value))
    return out


def _word_numbers(text: str) -> list[tuple[int, float]]:
    """Runs of number words -> values: "twenty-one" -> 21, "two hundred and five" -> 205."""
    out: list[tuple[int, float]] = []
    start, total, current, last, sign = -1, 0, 0, "", 1

    def flush() -> None:
        nonlocal start, total, current, last
        if start >= 0:
            out.append((start, float(sign * (total + current))))
        start, total, current, last = -1, 0, 0, ""

    for m in _WORD.finditer(text):
        w = m.group()
        if w in _UNITS or w in _TENS:
            joins = last == "scale" or (last == "tens" and 0 < _UNITS.get(w, 0) < 10)
            if start >= 0 and not joins:
                flush()
            if start < 0:
                start = m.start()
                before = text[max(0, m.start() - 12) : m.start()]
                sign = -1 if re.search(r"\b(?:minus|negative)\s+$", before) else 1
            current += _UNITS.get(w, 0) + _TENS.get(w, 0)
            last = "tens" if w in _TENS else "unit"
        elif (w in _SCALES and start >= 0 and last != "scale") or (w == "and" and last == "scale"):
            if w == "hundred":
                current *= 100
            elif w != "and":
                total += current * _SCALES[w]
                current = 0
            last = "scale"
        else:
            flush()
    flush()
    return out


def extract_number(s: str | None) -> float | None:
    """The answer's number (see the module docstring for the span and the last-number rule).

    >>> [extract_number(x) for x in ["1,234 people", "$5", "-3.5 cm", "45%", "twenty-one"]]
    [1234.0, 5.0, -3.5, 45.0, 21.0]
    >>> extract_number("There are 3 red and 2 blue. Answer: 5"), extract_number("no idea")
    (5.0, None)
    """
    if s is None:
        return None
    text = unicodedata.normalize("NFKC", s)
    text = _FRAC.sub(r"\1/\2", text)
    boxed = _BOXED.findall(text)
    markers = list(_MARKER.finditer(text))
    span = boxed[-1] if boxed else text[markers[-1].end() :] if markers else text
    for candidate in (span, text):
        lowered = candidate.lower()
        found = _digit_numbers(candidate) + _word_numbers(lowered)
        if found:
            value = max(found, key=lambda p: p[0])[1]
            return 0.0 if value == 0 else value
    return None


def format_number(x: float) -> str:
    """Canonical string for a number, so equal values vote together ("3.0" and "3" -> "3").

    >>> format_number(1000.0), format_number(3.14), format_number(-0.0)
    ('1000', '3.14', '0')
    """
    if math.isfinite(x) and x.is_integer() and abs(x) < 1e16:
        return str(int(x))
    return f"{x:.12g}"


def numbers_match(
    pred: float | str | None,
    ref: float | str | None,
    rel_tol: float = 1e-3,
    abs_tol: float = 1e-9,
    decimals: int | None = None,
) -> bool:
    """Whether two numbers agree: equal when both are integers, else within tolerance.

    Strings go through `extract_number`; None never matches. Two integral values must be equal
    (a count of 1001 is not 1000), otherwise `math.isclose(rel_tol, abs_tol)` applies (default
    0.1%, so "3.14" matches 3.1416). `decimals` rounds both first (MathVista gives the
    reference's precision).

    >>> numbers_match("3.14", "3.1416"), numbers_match("1,000", 1000), numbers_match(1001, 1000)
    (True, True, False)
    """
    a = extract_number(pred) if isinstance(pred, str) else pred
    b = extract_number(ref) if isinstance(ref, str) else ref
    if a is None or b is None:
        return False
    a, b = float(a), float(b)
    if decimals is not None:
        a, b = round(a, decimals), round(b, decimals)
    if a.is_integer() and b.is_integer():
        return a == b
    return math.isclose(a, b, rel_tol=rel_tol, abs_tol=abs_tol)
