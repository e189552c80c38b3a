"""The synthetic grounded-VQA task `shapes`: seeded scenes of coloured shapes, one-word answers.

Every sample is a pure function of `(seed, index)`: a 64×64 image with 2–5 squares, circles and
triangles in six colours, one question of one of six types, its answer, and the exact boxes of
the shapes the question needs (its evidence). Question types and their share:

=========  =====  ==================================================  ============
type       share  example                                             answer kind
=========  =====  ==================================================  ============
colour     19 %   what colour is the circle ?                         text
shape      19 %   what shape is the red object ?                      text
count      16 %   how many triangles are there ?                      number
exists     18 %   is there a blue square ?                            yesno
spatial    18 %   is the red square left or right of the blue circle ?  text
prior      10 %   how many sides does a triangle have ?               text
=========  =====  ==================================================  ============

Questions are unambiguous by construction: a colour question names a kind present once, a shape
question a colour present once, a spatial question two shapes whose colour+kind is unique and
whose boxes are at least 3 px apart along the asked axis. Prior questions are answerable from
language alone (`task_type="symbolic"`, no evidence); all others are "visual". For a "no"
existence answer the evidence is the confusable distractors (same colour or same kind).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from vrprobe.tasks.base import AnswerKind, Sample
from vrprobe.tasks.shapes_render import (
    COLOUR_NAMES,
    KINDS,
    Scene,
    Shape,
    random_scene,
    render,
)

SPLIT_SEEDS: dict[str, int] = {"train": 100, "easy": 101, "validation": 1, "test": 2}
QUESTION_TYPES: tuple[str, ...] = ("colour", "shape", "count", "exists", "spatial", "prior")
QUESTION_MIX: tuple[float, ...] = (0.19, 0.19, 0.16, 0.18, 0.18, 0.10)
ANSWER_KINDS: dict[str, AnswerKind] = {"exists": "yesno", "count": "number"}
SPATIAL_GAP = 3  # boxes at least this many pixels apart along the asked axis

PRIOR_QUESTIONS: tuple[tuple[str, str], ...] = (
    ("how many sides does a triangle have ?", "3"),
    ("how many sides does a square have ?", "4"),
    ("how many corners does a triangle have ?", "3"),
    ("how many corners does a square have ?", "4"),
    ("how many corners does a circle have ?", "0"),
    ("what colour do red and yellow make ?", "orange"),
    ("what colour do blue and yellow make ?", "green"),
    ("what colour do red and blue make ?", "purple"),
    ("is a circle round ?", "yes"),
    ("is a square round ?", "no"),
    ("what colour is grass ?", "green"),
    ("what colour is the sky ?", "blue"),
    ("what colour is a banana ?", "yellow"),
    ("what colour is a tomato ?", "red"),
)

_Question = tuple[str, str, tuple[Shape, ...]]


def _plural(kind: str) -> str:
    return kind + "s"


def _colour_q(rng: np.random.Generator, scene: Scene, kinds: dict) -> _Question | None:
    unique = [s for s in scene.shapes if len(kinds[s.kind]) == 1]
    if not unique:
        return None
    s = unique[int(rng.integers(len(unique)))]
    return f"what colour is the {s.kind} ?", s.colour, (s,)


def _shape_q(rng: np.random.Generator, scene: Scene, colours: dict) -> _Question | None:
    unique = [s for s in scene.shapes if len(colours[s.colour]) == 1]
    if not unique:
        return None
    s = unique[int(rng.integers(len(unique)))]
    return f"what shape is the {s.colour} object ?", s.kind, (s,)


def _count_q(rng: np.random.Generator, scene: Scene, kinds: dict, colours: dict) -> _Question:
    u = rng.random()
    if u < 0.4:
        kind = sorted(kinds)[int(rng.integers(len(kinds)))]
        hits = kinds[kind]
        question = f"how many {_plural(kind)} are there ?"
    elif u < 0.8:
        colour = sorted(colours)[int(rng.integers(len(colours)))]
        hits = colours[colour]
        question = f"how many {colour} shapes are there ?"
    else:
        hits = list(scene.shapes)
        question = "how many shapes are there ?"
    return question, str(len(hits)), tuple(hits)


def _exists_q(rng: np.random.Generator, scene: Scene, kinds: dict, colours: dict) -> _Question:
    present = {(s.colour, s.kind) for s in scene.shapes}
    if rng.random() < 0.5:
        colour, kind = sorted(present)[int(rng.integers(len(present)))]
        hits = tuple(s for s in scene.shapes if (s.colour, s.kind) == (colour, kind))
        return f"is there a {colour} {kind} ?", "yes", hits
    absent = [(c, k) for c in COLOUR_NAMES for k in KINDS if (c, k) not in present]
    # Prefer combinations whose colour and kind are both in the image (on different shapes),
    # then those sharing one of the two: the confusable ones.
    tiers = (
        [(c, k) for c, k in absent if c in colours and k in kinds],
        [(c, k) for c, k in absent if c in colours or k in kinds],
        absent,
    )
    pool = next(t for t in tiers if t)
    if tiers[0] and tiers[1] and rng.random() < 0.3:
        pool = tiers[1]
    colour, kind = pool[int(rng.integers(len(pool)))]
    hits = tuple(s for s in scene.shapes if s.colour == colour or s.kind == kind)
    return f"is there a {colour} {kind} ?", "no", hits


def _spatial_q(rng: np.random.Generator, scene: Scene) -> _Question | None:
    combos: dict[tuple[str, str], list[Shape]] = {}
    for s in scene.shapes:
        combos.setdefault((s.colour, s.kind), []).append(s)
    named = [v[0] for v in combos.values() if len(v) == 1]
    options = []
    for a in named:
        for b in named:
            if a is b:
                continue
            if a.x0 + a.size + SPATIAL_GAP <= b.x0:
                options.append((a, b, "horizontal", "left"))
            if b.x0 + b.size + SPATIAL_GAP <= a.x0:
                options.append((a, b, "horizontal", "right"))
            if a.y0 + a.size + SPATIAL_GAP <= b.y0:
                options.append((a, b, "vertical", "above"))
            if b.y0 + b.size + SPATIAL_GAP <= a.y0:
                options.append((a, b, "vertical", "below"))
    if not options:
        return None
    a, b, axis, answer = options[int(rng.integers(len(options)))]
    words = "left or right of" if axis == "horizontal" else "above or below"
    question = f"is the {a.colour} {a.kind} {words} the {b.colour} {b.kind} ?"
    return question, answer, (a, b)


def _question(rng: np.random.Generator, scene: Scene, qtype: str) -> _Question | None:
    kinds: dict[str, list[Shape]] = {}
    colours: dict[str, list[Shape]] = {}
    for s in scene.shapes:
        kinds.setdefault(s.kind, []).append(s)
        colours.setdefault(s.colour, []).append(s)
    if qtype == "colour":
        return _colour_q(rng, scene, kinds)
    if qtype == "shape":
        return _shape_q(rng, scene, colours)
    if qtype == "count":
        return _count_q(rng, scene, kinds, colours)
    if qtype == "exists":
        return _exists_q(rng, scene, kinds, colours)
    if qtype == "spatial":
        return _spatial_q(rng, scene)
    question, answer = PRIOR_QUESTIONS[int(rng.integers(len(PRIOR_QUESTIONS)))]
    return question, answer, ()


def make_sample(seed: int, index: int, easy: bool = False) -> Sample:
    """Sample `index` of the stream `seed` (an "easy" sample: 1–2 big shapes, low noise).

    >>> s = make_sample(2, 0)
    >>> s.id, s.image.size, s.question_type in QUESTION_TYPES
    ('shapes-2-0', (64, 64), True)
    >>> make_sample(2, 0).question == s.question
    True
    """
    rng = np.random.default_rng([seed, index, int(easy)])
    qtype = QUESTION_TYPES[int(rng.choice(len(QUESTION_TYPES), p=QUESTION_MIX))]
    n_shapes = 2 if easy and qtype == "spatial" else None
    while True:
        scene = random_scene(rng, easy=easy, n_shapes=n_shapes)
        made = _question(rng, scene, qtype)
        if made is not None:
            break
    question, answer, evidence = made
    image = render(scene, rng)
    return Sample(
        id=f"shapes-{seed}-{index}",
        image=image,
        question=question,
        answers=(answer,),
        evidence_boxes=tuple(s.box for s in evidence),
        task_type="symbolic" if qtype == "prior" else "visual",
        question_type=qtype,
        answer_kind=ANSWER_KINDS.get(qtype, "text"),
        meta={
            "seed": seed,
            "index": index,
            "easy": easy,
            "shapes": [s.to_dict() for s in scene.shapes],
            "evidence": [s.to_dict() for s in evidence],
            "small_target": any(s.small for s in evidence) if evidence else None,
            "background": list(scene.background),
            "noise": scene.noise,
        },
    )


def vocabulary() -> tuple[str, ...]:
    """Every word the task's questions and answers use, sorted (for a word-level tokenizer).

    >>> {"what", "colour", "triangles", "?", "yes", "3"} <= set(vocabulary())
    True
    """
    words = {"what", "colour", "is", "the", "shape", "object", "how", "many", "shapes", "are"}
    words |= {"there", "a", "or", "of", "left", "right", "above", "below", "yes", "no"}
    words |= set(KINDS) | {_plural(k) for k in KINDS} | set(COLOUR_NAMES)
    words |= {str(n) for n in range(6)}
    for question, answer in PRIOR_QUESTIONS:
        words |= set(question.split()) | {answer}
    return tuple(sorted(words))


class ShapesTask:
    """The `shapes` task on one split ("train", "easy", "validation", "test").

    >>> task = ShapesTask("test", size=3)
    >>> [s.id for s in task.samples()]
    ['shapes-2-0', 'shapes-2-1', 'shapes-2-2']
    >>> len(list(task.samples(limit=1)))
    1
    """

    name = "shapes"
    answer_kind: AnswerKind = "text"

    def __init__(self, split: str = "test", size: int = 300):
        if split not in SPLIT_SEEDS:
            raise ValueError(f"unknown split {split!r}; expected one of {sorted(SPLIT_SEEDS)}")
        if size < 0:
            raise ValueError(f"size must be >= 0, got {size}")
        self.split = split
        self.size = size
        self.seed = SPLIT_SEEDS[split]

    def samples(self, limit: int | None = None) -> Iterator[Sample]:
        """Yield the split's first `min(size, limit)` samples, in index order."""
        n = self.size if limit is None else min(self.size, limit)
        for index in range(n):
            yield make_sample(self.seed, index, easy=self.split == "easy")
