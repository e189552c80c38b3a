"""Split generated text into reasoning steps and map generated tokens onto them (SPEC §2).

The reasoning axis must leave out `<think>`/`</think>` tags and the final answer, or collapse
measured "at the end of reasoning" would really be measured on the answer. Pure string work on
the decoded text plus each token's character offsets into it.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

TAG_PATTERN = r"</?think>"
# "Answer:" at text/line/sentence start, allowing "Final", "The", markdown bold or headings.
ANSWER_PATTERN = r"(?i)(?:^|(?<=[\n.!?:]))\s*[>*#]*\s*(?:the\s+)?(?:final\s+)?answer\**\s*[:：]"
_PARAGRAPH = re.compile(r"\n[ \t]*\n\s*")
_SENTENCE = re.compile(r"[.!?][\"')\]]*\s+|\n\s*")
_BOXED = re.compile(r"\\boxed\s*\{")


@dataclass(frozen=True)
class Segmentation:
    """Steps of one generated text and where each token belongs.

    `step_ids[i]` is token i's step, -1 if it is not reasoning (tag, answer, beyond the text).
    `answer_mask[i]` marks tokens overlapping the answer content `answer_span` (char range).
    """

    step_ids: np.ndarray
    answer_mask: np.ndarray
    step_spans: tuple[tuple[int, int], ...]
    answer_span: tuple[int, int] | None

    @property
    def n_steps(self) -> int:
        """Number of reasoning steps."""
        return len(self.step_spans)


def _trim(text: str, a: int, b: int) -> tuple[int, int] | None:
    """`(a, b)` shrunk to exclude surrounding whitespace; None if blank."""
    chunk = text[a:b]
    if not chunk.strip():
        return None
    lead = len(chunk) - len(chunk.lstrip())
    return a + lead, a + len(chunk.rstrip())


def _pieces(text: str, start: int, end: int, splitter: re.Pattern) -> list[tuple[int, int]]:
    """Non-blank pieces of `text[start:end]` between splitter matches, trimmed."""
    cuts = [start, *(m.end() for m in splitter.finditer(text, start, end)), end]
    return [span for a, b in itertools.pairwise(cuts) if (span := _trim(text, a, b))]


def _last_boxed(text: str) -> tuple[int, int, int] | None:
    """(start of `\\boxed`, content start, content end) of the last complete box."""
    found = None
    for m in _BOXED.finditer(text):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        if depth == 0:
            found = (m.start(), m.end(), i - 1)
    return found


def _answer(text: str, pattern: str) -> tuple[int, tuple[int, int] | None]:
    """(where reasoning ends, answer content span) by `\\boxed{}`, "Answer:", last sentence."""
    marks = list(re.finditer(pattern, text))
    mark = marks[-1] if marks else None
    box = _last_boxed(text)
    if mark is not None and (box is None or box[0] < mark.start()):
        return mark.start(), _trim(text, mark.end(), len(text))
    if box is not None:
        glued = mark is not None and not text[mark.end() : box[0]].strip()
        return (mark.start() if glued else box[0]), _trim(text, box[1], box[2])
    sentences = _pieces(text, 0, len(text), _SENTENCE)
    if not sentences:
        return len(text), None
    return sentences[-1][0], sentences[-1]


def segment_steps(
    text: str,
    token_offsets: ArrayLike,
    *,
    unit: Literal["auto", "paragraph", "sentence"] = "auto",
    answer_pattern: str = ANSWER_PATTERN,
) -> Segmentation:
    """Split `text` into reasoning steps and assign each generated token to one.

    `token_offsets` is `(n_tokens, 2)` `[start, end)` character offsets into `text` (empty
    spans, e.g. special tokens, are not reasoning). Tags matching `<think>`/`</think>` are
    blanked out. The answer is the content of the last complete `\\boxed{}`, else what follows
    the last "Answer:" marker, else the last sentence; reasoning is everything before it.
    Steps are paragraphs (blank-line separated) with `unit="paragraph"`, sentences (or lines)
    with `"sentence"`; `"auto"` uses paragraphs when there are at least two, else sentences.
    A token belongs to the step holding its first non-space character (whitespace tokens go by
    their start, so blank lines join the preceding step).

    >>> text = "<think>Look at the sign. It is red.</think> Answer: red"
    >>> offs = [(0, 7), (7, 12), (12, 24), (24, 25), (25, 28), (28, 35), (35, 43), (43, 51),
    ...         (51, 55)]
    >>> seg = segment_steps(text, offs)
    >>> seg.step_ids.tolist(), seg.answer_mask.tolist()[-1], seg.answer_span
    ([-1, 0, 0, 0, 1, 1, -1, -1, -1], True, (52, 55))
    """
    if unit not in ("auto", "paragraph", "sentence"):
        raise ValueError(f"unit must be 'auto', 'paragraph' or 'sentence', got {unit!r}")
    offs = np.asarray(token_offsets, dtype=np.int64).reshape(-1, 2)
    if offs.size and (offs.min() < 0 or offs.max() > len(text) or (offs[:, 1] < offs[:, 0]).any()):
        raise ValueError(f"token_offsets must be [start, end) ranges within 0..{len(text)}")
    tags = [m.span() for m in re.finditer(TAG_PATTERN, text)]
    clean = list(text)
    for a, b in tags:
        clean[a:b] = " " * (b - a)
    clean = "".join(clean)
    end, answer_span = _answer(clean, answer_pattern)
    steps = _pieces(clean, 0, end, _PARAGRAPH)
    if unit == "sentence" or (unit == "auto" and len(steps) < 2):
        steps = _pieces(clean, 0, end, _SENTENCE)
    starts = np.array([s for s, _ in steps], dtype=np.int64)

    step_ids = np.full(len(offs), -1, dtype=np.int64)
    answer_mask = np.zeros(len(offs), dtype=bool)
    for i, (a, b) in enumerate(offs):
        if b <= a:
            continue
        if answer_span is not None:
            answer_mask[i] = a < answer_span[1] and b > answer_span[0]
        stripped = clean[a:b].lstrip()
        anchor = b - len(stripped) if stripped else a
        in_tag = any(ta <= anchor < tb for ta, tb in tags)
        if anchor < end and len(steps) and not in_tag:
            step_ids[i] = max(0, int(np.searchsorted(starts, anchor, side="right")) - 1)
    return Segmentation(step_ids, answer_mask, tuple(steps), answer_span)
