"""User-defined YAML tasks: field mapping, prompt, boxes; validated before any model loads."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from PIL import Image

from vrprobe.tasks.base import Sample, SampleError
from vrprobe.tasks.registry import TaskNotFound, resolve_task
from vrprobe.tasks.scoring import score_sample

YAML = """\
name: my_task
data: rows.jsonl
fields: {id: qid, image: img, question: q, answers: gt, choices: opts, evidence_boxes: box,
         question_type: cat}
prompt: "{question}\\n{choices}\\nAnswer with the letter. ({cat})"
answer_kind: option
task_type: visual
box_format: xywh
"""


def _write(tmp_path, text=YAML):
    Image.new("RGB", (20, 10)).save(tmp_path / "a.png")
    rows = [{"qid": 7, "img": "a.png", "q": "Which shape?", "gt": "B", "opts": ["circle", "square"],
             "box": [[2, 1, 4, 3]], "cat": "shape"},
            {"qid": 8, "img": "a.png", "q": "Too wide?", "gt": ["A"], "opts": ["x", "y"],
             "box": [[15, 0, 10, 3]], "cat": "shape"}]  # fmt: skip
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "my_task.yaml").write_text(text)
    return tmp_path / "my_task.yaml"


def test_yaml_task_maps_fields_prompt_and_boxes(tmp_path):
    task = resolve_task(str(_write(tmp_path)))
    s, bad = task.samples()
    assert isinstance(s, Sample) and task.name == "my_task" and s.id == "7"
    assert s.question == "Which shape?\n(A) circle\n(B) square\nAnswer with the letter. (shape)"
    assert s.evidence_boxes == ((2.0, 1.0, 6.0, 4.0),) and s.answer_kind == "option"
    assert score_sample(s, "(B) square").correct and not score_sample(s, "A").correct
    assert isinstance(bad, SampleError) and "outside the 20x10 image" in bad.message


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("answer_kind: option", "answer_kind: free"),
         "answer_kind: Input should be 'text', 'yesno', 'option' or 'number'"),
        (("task_type: visual", "task_type: maybe"),
         "task_type: Input should be 'visual' or 'symbolic'"),
        (("question: q,", "qestion: q,"), "fields.question: Field required"),
        (("prompt: \"{question}", "prompt: \"{q}"), "prompt: Value error, must contain {question}"),
    ],
)  # fmt: skip
def test_invalid_task_file_names_the_field(tmp_path, change, message):
    path = _write(tmp_path, YAML.replace(*change))
    with pytest.raises(TaskNotFound, match="invalid task file") as err:
        resolve_task(str(path))
    assert message in str(err.value)


def test_cli_refuses_a_bad_task_file_before_loading_the_model(tmp_path):
    path = _write(tmp_path, YAML.replace("answer_kind: option", "answer_kind: free"))
    proc = subprocess.run(
        [sys.executable, "-m", "vrprobe.cli", "run", "--task", str(path), "--out",
         str(tmp_path / "run")], capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 2 and "answer_kind" in proc.stdout + proc.stderr
    assert "'option'" in proc.stdout + proc.stderr and not (tmp_path / "run").exists()
