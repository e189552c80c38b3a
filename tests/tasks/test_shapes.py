"""The synthetic `shapes` task: determinism, exact evidence boxes, consistent answers, mix."""

from __future__ import annotations

import hashlib
from collections import Counter

import numpy as np
import pytest

from vrprobe.tasks.base import Sample, Task
from vrprobe.tasks.shapes import (
    QUESTION_MIX,
    QUESTION_TYPES,
    SPATIAL_GAP,
    SPLIT_SEEDS,
    ShapesTask,
    make_sample,
    vocabulary,
)
from vrprobe.tasks.shapes_render import COLOUR_NAMES, KINDS, Scene, Shape, patch_labels, render

N_CHECK = 300


def _pixels(sample: Sample) -> bytes:
    return sample.load_image().tobytes()


def _shape(d: dict) -> Shape:
    x0, y0, x1, _ = (int(v) for v in d["box"])
    return Shape(d["kind"], d["colour"], x0, y0, x1 - x0, tuple(d["rgb"]))


def _clean(sample: Sample, shapes: list[dict] | None = None) -> np.ndarray:
    """The sample's scene (or some of its shapes) rendered without noise."""
    shapes = sample.meta["shapes"] if shapes is None else shapes
    scene = Scene(tuple(_shape(d) for d in shapes), tuple(sample.meta["background"]), 0.0)
    return np.asarray(render(scene), dtype=np.int16)


def _ink(arr: np.ndarray, background, threshold: int) -> np.ndarray:
    return np.abs(arr - np.asarray(background, dtype=np.int16)).max(axis=-1) > threshold


@pytest.fixture(scope="module")
def samples() -> list[Sample]:
    return [make_sample(SPLIT_SEEDS["test"], i) for i in range(N_CHECK)]


def test_same_seed_and_index_give_identical_samples():
    a, b = make_sample(7, 3), make_sample(7, 3)
    assert _pixels(a) == _pixels(b)
    assert (a.question, a.answers, a.evidence_boxes) == (b.question, b.answers, b.evidence_boxes)
    assert a == b


def test_different_seeds_or_indices_differ():
    base = make_sample(7, 3)
    for other in (make_sample(8, 3), make_sample(7, 4), make_sample(7, 3, easy=True)):
        assert _pixels(other) != _pixels(base)


def test_sample_fields(samples):
    for s in samples:
        assert s.id == f"shapes-{SPLIT_SEEDS['test']}-{s.meta['index']}"
        assert s.load_image().size == (64, 64)
        assert s.question_type in QUESTION_TYPES
        assert len(s.answers) == 1
        answer = s.answers[0]
        assert answer == answer.lower() and len(answer.split()) == 1
        assert answer in vocabulary()
        assert set(s.question.split()) <= set(vocabulary())
        expected_kind = {"exists": "yesno", "count": "number"}.get(s.question_type, "text")
        assert s.answer_kind == expected_kind
        if s.question_type == "prior":
            assert s.task_type == "symbolic" and s.evidence_boxes == ()
        else:
            assert s.task_type == "visual" and s.evidence_boxes


def test_meta_describes_the_rendered_scene(samples):
    for s in samples[:60]:
        img = np.asarray(s.load_image(), dtype=np.int16)
        clean = _clean(s)
        assert np.abs(img - clean).mean() < max(1.0, 1.5 * s.meta["noise"])


def test_ink_lies_inside_the_shapes_boxes(samples):
    for s in samples[:100]:
        img = np.asarray(s.load_image(), dtype=np.int16)
        inside = np.zeros((64, 64), dtype=bool)
        for d in s.meta["shapes"]:
            x0, y0, x1, y1 = (int(v) for v in d["box"])
            inside[y0:y1, x0:x1] = True
        assert not (_ink(img, s.meta["background"], 50) & ~inside).any(), s.id


def test_evidence_boxes_are_tight_around_their_shape(samples):
    for s in samples[:100]:
        for d, box in zip(s.meta["evidence"], s.evidence_boxes, strict=True):
            assert tuple(d["box"]) == box
            ink = _ink(_clean(s, [d]), s.meta["background"], 15)
            ys, xs = np.nonzero(ink)
            assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == box, (s.id, d)


def test_small_and_large_shapes_occur(samples):
    sizes = [int(d["box"][2] - d["box"][0]) for s in samples for d in s.meta["shapes"]]
    assert min(sizes) == 5 and max(sizes) == 16
    assert 0.15 < np.mean([z <= 8 for z in sizes]) < 0.45
    assert all(z <= 8 or z >= 10 for z in sizes)


def _words(s: Sample) -> list[str]:
    return s.question.rstrip(" ?").split()


def test_answers_follow_from_the_scene(samples):
    for s in samples:
        shapes = s.meta["shapes"]
        ev = [tuple(d["box"]) for d in shapes]
        answer, w = s.answers[0], _words(s)
        if s.question_type == "colour":  # what colour is the <kind>
            hits = [d for d in shapes if d["kind"] == w[-1]]
            assert len(hits) == 1 and hits[0]["colour"] == answer
            assert s.evidence_boxes == (tuple(hits[0]["box"]),)
        elif s.question_type == "shape":  # what shape is the <colour> object
            hits = [d for d in shapes if d["colour"] == w[-2]]
            assert len(hits) == 1 and hits[0]["kind"] == answer
            assert s.evidence_boxes == (tuple(hits[0]["box"]),)
        elif s.question_type == "count":  # how many <kinds> / <colour> shapes / shapes are there
            if w[2] in COLOUR_NAMES:
                hits = [d for d in shapes if d["colour"] == w[2]]
            elif w[2] == "shapes":
                hits = shapes
            else:
                hits = [d for d in shapes if d["kind"] + "s" == w[2]]
            assert int(answer) == len(hits) >= 1
            assert set(s.evidence_boxes) == {tuple(d["box"]) for d in hits}
        elif s.question_type == "exists":  # is there a <colour> <kind>
            colour, kind = w[3], w[4]
            hits = [d for d in shapes if (d["colour"], d["kind"]) == (colour, kind)]
            assert answer == ("yes" if hits else "no")
            if not hits:
                hits = [d for d in shapes if d["colour"] == colour or d["kind"] == kind]
            assert set(s.evidence_boxes) == {tuple(d["box"]) for d in hits}
        elif s.question_type == "spatial":  # is the <c> <k> left or right of the <c> <k>
            a = [d for d in shapes if (d["colour"], d["kind"]) == (w[2], w[3])]
            b = [d for d in shapes if (d["colour"], d["kind"]) == (w[-2], w[-1])]
            assert len(a) == 1 and len(b) == 1
            (ax0, ay0, ax1, ay1), (bx0, by0, bx1, by1) = a[0]["box"], b[0]["box"]
            gap = {
                "left": bx0 - ax1,
                "right": ax0 - bx1,
                "above": by0 - ay1,
                "below": ay0 - by1,
            }[answer]
            assert gap >= SPATIAL_GAP
            assert answer in ("left", "right") if "left" in w else answer in ("above", "below")
            assert s.evidence_boxes == (tuple(a[0]["box"]), tuple(b[0]["box"]))
        else:
            assert s.question_type == "prior"
        assert set(s.evidence_boxes) <= set(ev)


def test_question_mix_over_1000_samples():
    counts = Counter(make_sample(SPLIT_SEEDS["train"], i).question_type for i in range(1000))
    for qtype, share in zip(QUESTION_TYPES, QUESTION_MIX, strict=True):
        assert abs(counts[qtype] / 1000 - share) < 0.045, (qtype, counts)


def test_yes_no_and_spatial_answers_are_balanced(samples):
    counts = Counter((s.question_type, s.answers[0]) for s in samples)
    yes, no = counts["exists", "yes"], counts["exists", "no"]
    assert 0.35 < yes / (yes + no) < 0.65
    assert all(counts["spatial", a] > 0 for a in ("left", "right", "above", "below"))


def test_splits_are_disjoint():
    seen: dict[str, str] = {}
    for split in SPLIT_SEEDS:
        for s in ShapesTask(split, size=150).samples():
            digest = hashlib.sha1(_pixels(s)).hexdigest()
            assert digest not in seen, (s.id, seen.get(digest))
            seen[digest] = s.id
    assert len(set(SPLIT_SEEDS.values())) == len(SPLIT_SEEDS)


def test_easy_split_has_few_big_shapes():
    for s in ShapesTask("easy", size=60).samples():
        assert s.meta["easy"] and 1 <= len(s.meta["shapes"]) <= 2
        assert all(not d["small"] for d in s.meta["shapes"])


def test_task_protocol_and_limits():
    task: Task = ShapesTask("validation", size=5)
    assert task.name == "shapes" and task.answer_kind == "text"
    assert [s.id for s in task.samples(limit=2)] == ["shapes-1-0", "shapes-1-1"]
    assert len(list(task.samples(limit=50))) == 5
    with pytest.raises(ValueError, match="unknown split"):
        ShapesTask("nope")


def test_patch_labels_mark_the_shapes_patches():
    s = make_sample(SPLIT_SEEDS["test"], 0)
    colour, kind = patch_labels(s.meta["shapes"])
    assert colour.shape == kind.shape == (64,)
    assert ((colour > 0) == (kind > 0)).all()
    for d in s.meta["shapes"]:
        x0, y0, x1, y1 = d["box"]
        cx, cy = int((x0 + x1) / 2) // 8, int((y0 + y1) / 2) // 8
        if d["kind"] == "square":
            assert colour[cy * 8 + cx] == 1 + COLOUR_NAMES.index(d["colour"])
            assert kind[cy * 8 + cx] == 1 + KINDS.index("square")
