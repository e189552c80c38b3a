"""Yes/no extraction from the first sentence (POPE protocol) and POPE summary metrics.

Reference: POPE's `evaluate.py` (github.com/AoiDragon/POPE): keep the text before the first
".", delete commas, split on spaces; the answer is "no" if the words contain "No", "not" or
"no", otherwise "yes". `extract_yesno` keeps those semantics and fixes their known gaps:

1. First sentence = text up to the first ".", "!", "?" or newline (a decimal point such as
   "3.5" does not end it); leading empty sentences, markdown, an "Answer:" lead-in and an
   echoed question ("Is there a dog? No.") are skipped.
2. A leading yes/no word decides ("Yes, there is a dog, not a cat." -> yes). POPE would say
   "no" here because of "not"; the leading word is the model's actual answer.
3. Otherwise any negation in the first sentence -> "no": no, not, none, never, nothing,
   nobody, nowhere, neither, nor, cannot, and every "n't" contraction (also typed without the
   apostrophe: "isnt", "dont"). Case-insensitive (POPE misses "Not" and "isn't"). So
   "I don't see any cat." -> no, "There isn't a dog." -> no.
4. A hedge ("not sure", "cannot determine", "unclear", "I don't know", ...) -> None.
5. Otherwise "yes" anywhere -> yes; else POPE's default "yes" for any other non-empty
   sentence ("There is a dog in the image." -> yes), or None with `strict=True`.
6. Empty / no words -> None.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Literal

YesNo = Literal["yes", "no"]

_YES_LEAD = frozenset({"yes", "yeah", "yep", "yup", "affirmative", "correct", "true"})
_NO_LEAD = frozenset({"no", "nope", "nah", "negative", "incorrect", "false"})
_NEGATIONS = frozenset(
    {"no", "not", "none", "never", "nothing", "nobody", "nowhere", "neither", "nor", "cannot"}
    | {"nope", "nah"}
)
# n't contractions typed without the apostrophe (from VQA's contraction table).
_BARE_NT_WORDS = (
    "aint arent cant couldnt didnt doesnt dont hadnt hasnt havent isnt mightnt mustnt "
    "neednt shant shouldnt wasnt werent wont wouldnt"
)
_BARE_NT = frozenset(_BARE_NT_WORDS.split())
_HEDGE = re.compile(
    r"\b(?:not\s+(?:sure|certain|clear)|unsure|uncertain|unclear|i\s+(?:don'?t|do\s+not)\s+"
    r"know|(?:can'?t|cannot|can\s+not|unable\s+to|impossible\s+to|hard\s+to|difficult\s+to|"
    r"not\s+possible\s+to)\s+(?:tell|determine|say|know|answer|confirm|be\s+sure|decide))\b"
)
_SENTENCE_END = re.compile(r"((?<!\d)\.|\.(?!\d)|[!?\n\r])")
_LEAD_IN = re.compile(
    r"^\W*(?:(?:assistant|response|output)\s*:\s*)?(?:(?:the|my)\s+)?(?:final\s+|short\s+)?"
    r"answer\s*(?:is\b|would\s+be\b|:)?"
)
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")


def _first_sentence(s: str) -> str:
    """Lowercased first sentence that has a word; an echoed question ("...?") is skipped."""
    s = unicodedata.normalize("NFKC", s).lower()
    s = re.sub(r"[\u2018\u2019\u02bc`\u00b4]", "'", s)
    s = re.sub(r"[*_#>`]+", " ", s)
    parts = _SENTENCE_END.split(s)  # [text, end, text, end, ..., text]
    ends = [*parts[1::2], ""]
    candidates = [(t, e) for t, e in zip(parts[::2], ends, strict=True) if _WORD.search(t)]
    for k, (text, end) in enumerate(candidates):
        if end == "?" and k + 1 < len(candidates):
            continue
        return _LEAD_IN.sub("", text, count=1)
    return ""


def _is_negation(word: str) -> bool:
    return word in _NEGATIONS or word.endswith("n't") or word in _BARE_NT


def extract_yesno(s: str | None, strict: bool = False) -> YesNo | None:
    """ "yes", "no" or None (unparseable) from the first sentence, POPE-style.

    See the module docstring for the exact rules; `strict=True` returns None instead of
    POPE's default "yes" when the sentence has neither a yes nor a negation word.

    >>> [extract_yesno(x) for x in ["Yes, there is a dog.", "There is no dog.", "No."]]
    ['yes', 'no', 'no']
    >>> extract_yesno("I don't see any cat."), extract_yesno("Not sure."), extract_yesno("")
    ('no', None, None)
    """
    if s is None:
        return None
    sentence = _first_sentence(s)
    words = _WORD.findall(sentence)
    if not words:
        return None
    lead = words[0]
    if lead in _YES_LEAD:
        return "yes"
    if lead in _NO_LEAD:
        return "no"
    if _HEDGE.search(sentence):
        return None
    if any(_is_negation(w) for w in words):
        return "no"
    if "yes" in words or not strict:
        return "yes"
    return None


def pope_metrics(
    preds: Sequence[str | None],
    labels: Sequence[str],
    unparseable: Literal["wrong", "drop"] = "wrong",
) -> dict[str, float | int]:
    """POPE summary: accuracy, precision, recall, F1 (positive = "yes"), yes-ratio, counts.

    `preds` may be raw model outputs or already-extracted "yes"/"no"/None; each goes through
    `extract_yesno`. A prediction that yields None is counted in "unparseable"; with
    `unparseable="wrong"` (default) it counts as an error (a false negative on a "yes" label, a
    false positive on a "no" label) and not as a "yes" in yes_ratio; with "drop" it is left
    out of every metric (n counts the rest). Zero denominators give 0.0, as scikit-learn does.

    >>> m = pope_metrics(["Yes.", "No, there isn't.", "yes", None], ["yes", "no", "no", "yes"])
    >>> m["accuracy"], m["precision"], m["recall"], m["yes_ratio"], m["unparseable"]
    (0.5, 0.5, 0.5, 0.5, 1)
    """
    if len(preds) != len(labels):
        raise ValueError(f"{len(preds)} predictions but {len(labels)} labels")
    if unparseable not in ("wrong", "drop"):
        raise ValueError(f"unparseable must be 'wrong' or 'drop', not {unparseable!r}")
    tp = fp = tn = fn = n_bad = n_yes = 0
    for raw, label_raw in zip(preds, labels, strict=True):
        label = extract_yesno(label_raw, strict=True)
        if label is None:
            raise ValueError(f"label {label_raw!r} is not yes/no")
        pred = extract_yesno(raw)
        if pred is None:
            n_bad += 1
            if unparseable == "drop":
                continue
            pred = "no" if label == "yes" else "yes"  # always wrong
        else:
            n_yes += pred == "yes"
        if pred == "yes":
            tp, fp = (tp + 1, fp) if label == "yes" else (tp, fp + 1)
        else:
            fn, tn = (fn + 1, tn) if label == "yes" else (fn, tn + 1)
    n = tp + fp + tn + fn
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "n": n,
        "accuracy": (tp + tn) / n if n else 0.0,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "yes_ratio": n_yes / n if n else 0.0,
        "unparseable": n_bad,
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
    }
