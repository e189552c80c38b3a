"""V*Bench (with target boxes) and HR-Bench in their published layouts, hand-checked scores."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from tests.tasks.benchmarks.fixtures import (
    b64png,
    image_struct,
    records_for,
    write_hub_parquet,
    write_json_lines,
    write_tsv,
)
from vrprobe.tasks.base import Sample, SampleError
from vrprobe.tasks.registry import resolve_task
from vrprobe.tasks.scoring import score_sample

INSTRUCTION = "Answer with the option's letter from the given choices directly."


def vstar_snapshot(root, with_questions=True):
    """craigwu/vstar_bench: test_questions.jsonl + <category>/sa_*.jpg and sa_*.json."""
    notes = {
        "direct_attributes/sa_1": ((40, 30), {"target_object": ["cup"], "bbox": [[5, 6, 10, 8]],
                                   "question": "What is the color of the cup?",
                                   "options": ["red", "blue", "white", "black"]}),
        "direct_attributes/sa_2": ((40, 30), {"target_object": ["flag"], "bbox": [[30, 20, 12, 12]],
                                   "question": "What is the color of the flag?",
                                   "options": ["green", "yellow", "red", "blue"]}),
        "relative_position/sa_3": ((50, 20), {"target_object": ["dog", "bench"],
                                   "bbox": [[1, 2, 4, 4], [20, 5, 10, 10]],
                                   "question": "Is the dog on the left or right of the bench?",
                                   "options": ["The dog is on the left.",
                                               "The dog is on the right."]}),
    }  # fmt: skip
    rows = []
    for qid, (stem, (size, note)) in enumerate(notes.items()):
        (root / stem).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", size, (90, 90, 90)).save(root / f"{stem}.jpg")
        (root / f"{stem}.json").write_text(json.dumps(note))
        # the question file shuffles the options: the right one is not always (A)
        opts = note["options"][1:] + note["options"][:1]
        lines = [note["question"]] + [f"({'ABCD'[i]}) {o}" for i, o in enumerate(opts)]
        rows.append({"image": f"{stem}.jpg", "text": "\n".join([*lines, INSTRUCTION]),
                     "category": stem.split("/")[0], "question_id": qid,
                     "label": "ABCD"[len(opts) - 1]})  # fmt: skip
    if with_questions:
        write_json_lines(root / "test_questions.jsonl", rows)
    return root


def test_vstar_snapshot_boxes_prompt_and_scores(tmp_path):
    task = resolve_task("vstar", data=str(vstar_snapshot(tmp_path / "vstar")))
    a, b, c = task.samples()
    assert a.id == "direct_attributes-0" and a.answers == ("D",)
    assert a.choices == ("blue", "white", "black", "red") and a.question.endswith(INSTRUCTION)
    assert a.evidence_boxes == ((5.0, 6.0, 15.0, 14.0),)  # [x, y, w, h] -> xyxy pixels
    assert b.evidence_boxes == ((30.0, 20.0, 40.0, 30.0),)  # 42 x 32 overruns: clipped to 40 x 30
    assert c.evidence_boxes == ((1.0, 2.0, 5.0, 6.0), (20.0, 5.0, 30.0, 15.0))
    assert c.meta["target_object"] == ["dog", "bench"] and c.question_type == "relative_position"
    verdicts = [score_sample(a, "(D) red"), score_sample(b, "A"), score_sample(c, "B")]
    assert [v.correct for v in verdicts] == [True, False, True]
    m = task.native_metrics(records_for([a, b, c], ["(D) red", "A", "B"]))
    assert m == {"all": pytest.approx(2 / 3), "direct_attributes": 0.5, "relative_position": 1.0}


def test_vstar_annotation_folders_without_question_file(tmp_path):
    root = vstar_snapshot(tmp_path / "v", with_questions=False)
    samples = list(resolve_task("vstar", data=str(root)).samples())
    assert [s.id for s in samples] == ["direct_attributes-sa_1", "direct_attributes-sa_2",
                                       "relative_position-sa_3"]  # fmt: skip
    s = samples[0]
    assert s.answers == ("A",) and s.choices[0] == "red"  # release order: the first is right
    assert s.evidence_boxes == ((5.0, 6.0, 15.0, 14.0),)
    assert s.question.startswith("What is the color of the cup?\n(A) red\n(B) blue")


def test_vstar_parquet_copy_has_no_boxes(tmp_path):
    row = {"image": image_struct((24, 24)), "text": f"Q?\n(A) x\n(B) y\n{INSTRUCTION}",
           "label": "B", "category": "direct_attributes", "question_id": 7}  # fmt: skip
    write_hub_parquet(tmp_path / "lmms", [row, {**row, "question_id": 8, "label": "C"}])
    s, bad = resolve_task("vstar", data=str(tmp_path / "lmms")).samples()
    assert isinstance(s, Sample) and s.evidence_boxes == () and s.load_image().size == (24, 24)
    assert isinstance(bad, SampleError) and "'label'" in bad.message


def hr_row(index, answer, category, cycle):
    return {"index": index, "question": f"What is written on sign {index}?", "A": "27B",
            "B": "37B", "C": "27D", "D": "27E", "answer": answer, "category": category,
            "cycle_category": cycle, "image": b64png((64, 48))}  # fmt: skip


def test_hrbench_tsv_base64_images_and_metrics(tmp_path):
    rows = [hr_row(0, "A", "single", "c0"), hr_row(1, "C", "single", "c1"),
            hr_row(2, "D", "cross", "c0"), {**hr_row(3, "E", "cross", "c1")}]  # fmt: skip
    path = write_tsv(tmp_path / "hr_bench_4k.tsv", rows)
    task = resolve_task("hrbench", data=str(path))
    out = list(task.samples())
    a, b, c = out[:3]
    assert a.question == (
        "Question: What is written on sign 0?\nOptions:\nA. 27B\nB. 37B\nC. 27D\nD. 27E\n"
        "Please select the correct answer from the options above."
    )
    assert a.load_image().size == (64, 48) and a.choices == ("27B", "37B", "27D", "27E")
    assert isinstance(out[3], SampleError) and "'answer'" in out[3].message
    preds = ["A. 27B", "The answer is 27D", "B"]  # right (letter), right (choice text), wrong
    assert [score_sample(s, p).correct for s, p in zip(out[:3], preds, strict=True)] == [
        True,
        True,
        False,
    ]
    m = task.native_metrics(records_for([a, b, c], preds))
    assert m["all"] == pytest.approx(2 / 3) and m["single"] == 1.0 and m["cross"] == 0.0
    assert m["cycle:c0"] == 0.5 and m["cycle:c1"] == 1.0


def test_cli_run_vstar_end_to_end_with_evidence_boxes(tmp_path):
    import subprocess
    import sys

    import pyarrow.parquet as pq

    data = vstar_snapshot(tmp_path / "vstar")
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "vrprobe.cli", "run", "--task", "vstar", "--data", str(data),
           "--limit", "3", "--out", str(out), "--no-progress", "--no-report"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "vstar native metrics" in proc.stderr
    native = json.loads((out / "manifest.json").read_text())["summary"]["native_metrics"]
    assert set(native) == {"all", "direct_attributes", "relative_position"}
    records = pq.read_table(out / "records").to_pylist()
    assert len(records) == 3 and all(r["error"] is None for r in records)
    assert all(r["correct"] in (True, False) and r["answer_kind"] == "option" for r in records)
    by_id = {r["sample_id"]: r for r in records}
    assert by_id["direct_attributes-0"]["evidence_boxes"] == [[5.0, 6.0, 15.0, 14.0]]
    # the boxes reach the evidence signals
    assert all(r["evidence_mass"] is not None and 0.0 <= r["evidence_mass"] <= 1.0 for r in records)
    assert native["all"] == sum(r["correct"] for r in records) / 3
