"""MMMU and MMMU-Pro in their published layouts, scored against hand-checked verdicts."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from tests.tasks.benchmarks.fixtures import (
    image_struct,
    records_for,
    save_to_disk,
    write_hub_parquet,
    write_json_lines,
)
from vrprobe.tasks.base import Sample, SampleError
from vrprobe.tasks.registry import resolve_task
from vrprobe.tasks.scoring import score_sample

NO_IMAGES = {f"image_{k}": None for k in range(2, 8)}


def mmmu_row(rid, question, options, answer, qtype="multiple-choice", image=None, **extra):
    """A row of MMMU/MMMU (parquet): options are a stringified Python list."""
    return {
        "id": rid, "question": question, "options": options, "explanation": "",
        "image_1": image if image is not None else image_struct((20, 14)), **NO_IMAGES,
        "img_type": "['Tables']", "answer": answer, "topic_difficulty": "Medium",
        "question_type": qtype, "subfield": "Financial Accounting", **extra,
    }  # fmt: skip


MMMU_ROWS = [
    mmmu_row("validation_Accounting_1", "<image 1> What is the total cost?",
             "['$6', '$7', '$8', '$9']", "B"),
    mmmu_row("validation_Math_3", "Find the length in <image 1>.", "[]", "12.5", qtype="open"),
    mmmu_row("validation_Art_2", "Compare <image 1> and <image 2>.", "['left', 'right']", "A",
             image_2=image_struct((8, 8))),
    mmmu_row("validation_Math_4", "Which?", "['a', 'b'", "A"),
    mmmu_row("validation_Math_5", "Which?", "['a', 'b']", "E"),
]  # fmt: skip


def test_mmmu_subject_parquet_layout_prompt_and_errors(tmp_path):
    # MMMU/MMMU snapshot: one folder per subject, <Subject>/validation-*.parquet
    write_hub_parquet(tmp_path / "mmmu", MMMU_ROWS, split="validation", sub="Accounting")
    write_hub_parquet(tmp_path / "mmmu", MMMU_ROWS[:1], split="dev", sub="Accounting")
    out = list(resolve_task("mmmu", data=str(tmp_path / "mmmu")).samples())
    mc, open_q, multi = out[:3]
    assert mc.question == (
        "[image] What is the total cost?\n\n(A) $6\n(B) $7\n(C) $8\n(D) $9\n\n"
        "Answer with the option's letter from the given choices directly."
    )
    assert mc.choices == ("$6", "$7", "$8", "$9") and mc.answers == ("B",)
    assert mc.answer_kind == "option" and mc.meta["subject"] == "Accounting"
    assert mc.load_image().size == (20, 14)
    assert open_q.answer_kind == "text" and open_q.choices == ()
    assert open_q.question.endswith("Answer the question using a single word or phrase.")
    # several images: asked with image_1 (MMMU's single-image protocol), counted
    assert multi.meta["n_images"] == 2 and multi.load_image().size == (20, 14)
    assert isinstance(out[3], SampleError) and "options" in out[3].message
    assert isinstance(out[4], SampleError) and "'answer'" in out[4].message
    assert len(out) == 5  # the dev split is not read


@pytest.mark.parametrize(
    ("i", "reply", "expected"),
    [
        (0, "(B)", True),
        (0, "The answer is $8", False),  # <= 5 words, no letter: official guesses; we say no
        (0, "I believe the correct total comes to $7 dollars", True),  # option text, > 5 words
        (0, "B or C, but finally C", False),  # two letters: the last one (C) counts
        (0, "C", False),
        (1, "The length is 12.50 cm.", True),  # 12.5 == round(12.50, 2)
        (1, "x = 13", False),
        (2, "(A) left", True),
    ],
)
def test_mmmu_native_verdicts(tmp_path, i, reply, expected):
    write_json_lines(tmp_path / "mmmu.jsonl", [_as_paths(r, tmp_path) for r in MMMU_ROWS[:3]])
    samples = list(resolve_task("mmmu", data=str(tmp_path / "mmmu.jsonl")).samples())
    assert score_sample(samples[i], reply).correct is expected


def _as_paths(row: dict, folder) -> dict:
    """A JSON-lines copy: images as files next to the manifest."""
    out = dict(row)
    for k in range(1, 8):
        if out.get(f"image_{k}") is not None:
            name = f"{row['id']}_{k}.png"
            Image.new("RGB", (10, 10)).save(folder / name)
            out[f"image_{k}"] = name
    return out


def test_mmmu_native_metrics_by_subject_and_domain(tmp_path):
    write_hub_parquet(tmp_path / "m", MMMU_ROWS[:3], split="validation")
    task = resolve_task("mmmu", data=str(tmp_path / "m"))
    samples = list(task.samples())
    m = task.native_metrics(records_for(samples, ["B", "12.5", "B"]))
    assert m["all"] == pytest.approx(2 / 3)
    assert (m["Accounting"], m["Math"], m["Art"]) == (1.0, 1.0, 0.0)
    assert m["Overall-Business"] == 1.0 and m["Overall-Art and Design"] == 0.0
    assert m["multi_image_rows"] == 1


def pro_row(rid, answer, n=10):
    options = [f"option {k}" for k in range(n)]
    return {
        "id": rid, "question": "<image 1> Which statement holds?", "options": str(options),
        "explanation": "", "image_1": image_struct((12, 9)), **NO_IMAGES, "img_type": "['Other']",
        "answer": answer, "topic_difficulty": "Hard", "subject": "History",
    }  # fmt: skip


def test_mmmu_pro_standard_ten_options(tmp_path):
    rows = [pro_row("test_History_1", "J"), pro_row("test_History_2", "B")]
    write_hub_parquet(tmp_path / "pro", rows, split="test", sub="standard (10 options)")
    a, b = resolve_task("mmmu-pro", data=str(tmp_path / "pro")).samples()
    assert len(a.choices) == 10 and a.question.startswith("[image] Which statement holds?\nA. ")
    assert "\nJ. option 9\nAnswer with the option letter" in a.question
    assert score_sample(a, "Thinking... Answer: J").correct
    assert score_sample(a, "(J) option 9").correct
    assert score_sample(b, "The answer is B.").correct  # "B " matches (MMMU-Pro's rule)
    assert not score_sample(b, "The answer is A.").correct


def test_mmmu_pro_vision_saved_folder(tmp_path):
    options = "['red', 'blue', 'green', 'black']"
    rows = [{"id": "test_Art_1", "image": image_struct((30, 40)), "options": options,
             "answer": "C", "subject": "Art"}]  # fmt: skip
    folder = save_to_disk(tmp_path / "vision", rows)
    (s,) = resolve_task("mmmu-pro-vision", data=str(folder)).samples()
    assert s.question.startswith("Answer with the option letter") and "'Answer: $LETTER'" in (
        s.question
    )
    assert s.load_image().size == (30, 40) and s.choices == ("red", "blue", "green", "black")
    assert score_sample(s, "The question asks about colour.\nAnswer: C").correct
    assert json.loads(json.dumps(s.meta))["subject"] == "Art"
    assert isinstance(s, Sample)
