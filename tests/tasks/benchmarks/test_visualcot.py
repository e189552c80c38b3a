"""Visual CoT benchmark subsets in the release's JSON format, with boxes and EM / token F1."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from tests.tasks.benchmarks.fixtures import records_for, write_json_lines
from vrprobe.tasks.base import SampleError
from vrprobe.tasks.registry import resolve_task

BOX_REQUEST = (
    " Please provide the bounding box coordinate of the region that can help you answer the "
    "question better."
)


def viscot_row(qid, dataset, image, question, answer, bboxs, size):
    w, h = size
    return {
        "question_id": qid,
        "image": [image, f"{image}###[0.1, 0.1, 0.5, 0.5]"],
        "conversations": [
            {"from": "human", "value": f"<image>\n{question}{BOX_REQUEST}"},
            {"from": "gpt", "value": "[0.104, 0.103, 0.5, 0.5]"},
            {"from": "human", "value": "<image>"},
            {"from": "gpt", "value": answer},
        ],
        "width": w, "height": h, "bboxs": bboxs, "dataset": dataset, "split": "test",
    }  # fmt: skip


def viscot_release(root):
    """viscot_benchmark/benchmark/textvqa.json with images under textvqa/ (and docvqa/)."""
    for folder, name, size in [("textvqa", "a.jpg", (60, 40)), ("textvqa", "b.jpg", (30, 30)),
                               ("docvqa", "c.png", (50, 70))]:  # fmt: skip
        (root / folder).mkdir(parents=True, exist_ok=True)
        Image.new("RGB", size, "white").save(root / folder / name)
    return [
        viscot_row(1, "textvqa", "textvqa/a.jpg", "What is the price?", "$3.50",
                   [[10, 5, 30, 20]], (60, 40)),
        viscot_row(2, "textvqa", "textvqa/b.jpg", "What brand is it?", "Coca Cola",
                   [[0, 0, 10, 10], [12, 12, 30, 30]], (30, 30)),
        viscot_row(3, "docvqa", "docvqa/c.png", "What is the date?", "March 3, 1998",
                   [[5, 5, 40, 20]], (50, 70)),
        viscot_row(4, "textvqa", "textvqa/b.jpg", "Which year?", "1990", [[0, 0, 31, 10]],
                   (30, 30)),
    ]  # fmt: skip


def test_visualcot_json_release_boxes_and_subset_filter(tmp_path):
    rows = viscot_release(tmp_path)
    (tmp_path / "textvqa.json").write_text(json.dumps(rows))
    out = list(resolve_task("visualcot-textvqa", data=str(tmp_path / "textvqa.json")).samples())
    a, b = out[:2]
    assert a.id == "1" and a.question == (
        "What is the price?\nAnswer the question using a single word or phrase."
    )
    assert a.answers == ("$3.50",) and a.answer_kind == "text" and a.question_type == "textvqa"
    assert a.evidence_boxes == ((10.0, 5.0, 30.0, 20.0),) and a.load_image().size == (60, 40)
    assert b.evidence_boxes == ((0.0, 0.0, 10.0, 10.0), (12.0, 12.0, 30.0, 30.0))
    assert isinstance(out[2], SampleError) and "visualcot-docvqa" in out[2].message
    assert isinstance(out[3], SampleError) and "outside the 30x30 image" in out[3].message


def test_visualcot_any_subset_jsonl_and_em_f1(tmp_path):
    rows = viscot_release(tmp_path)
    rows[0]["image"] = rows[0]["image"][0]  # a plain path string is accepted too
    write_json_lines(tmp_path / "mixed.jsonl", rows[:3])
    task = resolve_task("visualcot", data=str(tmp_path / "mixed.jsonl"))
    samples = list(task.samples())
    assert [s.meta["dataset"] for s in samples] == ["textvqa", "textvqa", "docvqa"]
    # "3.50" == "$3.50" after normalisation (EM 1, F1 1); "coca cola zero": EM 0,
    # F1 = 2 * (2/3 * 1) / (2/3 + 1) = 0.8; "1998": EM 0, F1 = 2 * (1 * 1/3) / (1 + 1/3) = 0.5
    m = task.native_metrics(records_for(samples, ["3.50", "Coca Cola Zero", "1998"]))
    assert m["all"]["n"] == 3 and m["all"]["em"] == pytest.approx(1 / 3)
    assert m["all"]["f1"] == pytest.approx((1 + 0.8 + 0.5) / 3)
    assert m["textvqa"] == {"n": 2, "em": 0.5, "f1": pytest.approx(0.9)}
    assert m["docvqa"]["f1"] == pytest.approx(0.5)
