"""POPE / RePOPE in their published layouts, scored against hand-checked values."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from PIL import Image
from sklearn.metrics import f1_score, precision_score, recall_score

from tests.tasks.benchmarks.fixtures import (
    image_struct,
    save_to_disk,
    write_hub_parquet,
    write_json_lines,
)
from vrprobe.tasks.base import Sample, SampleError
from vrprobe.tasks.registry import TaskNotFound, resolve_task

# lmms-lab/POPE columns: id, question_id, question, answer, image_source, image, category
HUB_ROWS = [
    {
        "id": str(i),
        "question_id": str(i % 3 + 1),
        "question": f"Is there a {obj} in the image?",
        "answer": ans,
        "image_source": f"COCO_val2014_00000031019{i}",
        "image": image_struct((20 + i, 16)),
        "category": cat,
    }
    for i, (obj, ans, cat) in enumerate(
        [
            ("snowboard", "yes", "adversarial"),
            ("dog", "no", "adversarial"),
            ("car", "yes", "popular"),
            ("person", "no", "random"),
        ]
    )
]


def test_hub_parquet_layout(tmp_path):
    write_hub_parquet(tmp_path / "pope", HUB_ROWS)
    samples = list(resolve_task("pope", data=str(tmp_path / "pope")).samples())
    assert all(isinstance(s, Sample) for s in samples)
    s = samples[0]
    assert s.id == "0" and s.answers == ("yes",) and s.answer_kind == "yesno"
    assert s.question.startswith("Is there a snowboard in the image?\nAnswer")
    assert s.question_type == "adversarial" and s.task_type == "visual"
    assert s.evidence_boxes == () and s.load_image().size == (20, 16)


def test_saved_datasets_folder_layout(tmp_path):
    folder = save_to_disk(tmp_path / "saved", HUB_ROWS)
    samples = list(resolve_task("pope", data=str(folder)).samples(limit=3))
    assert [s.id for s in samples] == ["0", "1", "2"]
    assert samples[2].load_image().size == (22, 16)


def test_original_json_lines_with_image_folder_and_repope(tmp_path):
    # POPE / RePOPE ship JSON lines named after the category: question_id, image, text, label
    (tmp_path / "images").mkdir()
    Image.new("RGB", (30, 20)).save(tmp_path / "images" / "COCO_val2014_000000310196.jpg")
    rows = [
        {"question_id": 1, "image": "COCO_val2014_000000310196.jpg",
         "text": "Is there a snowboard in the image?", "label": "yes"},
        {"question_id": 2, "image": "COCO_val2014_000000310196.jpg",
         "text": "Is there a dog in the image?", "label": "maybe"},
        {"question_id": 3, "image": "missing.jpg", "text": "Is there a cat?", "label": "no"},
    ]  # fmt: skip
    path = write_json_lines(tmp_path / "coco_repope_adversarial.json", rows)
    out = list(resolve_task("repope", data=str(path)).samples())
    assert isinstance(out[0], Sample) and out[0].id == "adversarial-1"
    assert out[0].question_type == "adversarial" and out[0].load_image().size == (30, 20)
    assert isinstance(out[1], SampleError) and "not yes/no" in out[1].message
    assert isinstance(out[2], SampleError) and "image file not found" in out[2].message


def test_pope_native_metrics_match_hand_values_and_sklearn(tmp_path):
    write_hub_parquet(tmp_path / "pope", HUB_ROWS)
    task = resolve_task("pope", data=str(tmp_path / "pope"))
    # labels yes, no, yes, no; predictions yes, yes, "No, there is not.", no
    preds = ["Yes, there is.", "Yes.", "No, there is not.", "No"]
    records = [{"sample_id": str(i), "prediction": p, "error": None} for i, p in enumerate(preds)]
    m = task.native_metrics(records)
    # tp=1 fp=1 fn=1 tn=1: acc 0.5, P 0.5, R 0.5, F1 0.5, yes-ratio 0.5 (hand-checked)
    assert m["all"]["accuracy"] == 0.5 and m["all"]["yes_ratio"] == 0.5
    y = [1, 0, 1, 0]
    p = [1, 1, 0, 0]
    assert m["all"]["precision"] == pytest.approx(precision_score(y, p))
    assert m["all"]["recall"] == pytest.approx(recall_score(y, p))
    assert m["all"]["f1"] == pytest.approx(f1_score(y, p))
    assert m["adversarial"]["n"] == 2 and m["adversarial"]["accuracy"] == 0.5
    assert m["random"]["accuracy"] == 1.0 and m["popular"]["recall"] == 0.0


def test_invalid_data_combinations_name_the_option(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(TaskNotFound, match="--data: task 'shapes'"):
        resolve_task("shapes", data=str(tmp_path))
    with pytest.raises(TaskNotFound, match=r"--data.*does not exist"):
        resolve_task("pope", data=str(tmp_path / "nope"))
    with pytest.raises(TaskNotFound, match=r"--data.*offline"):
        resolve_task("pope")
    with pytest.raises(TaskNotFound, match="--data"):
        resolve_task("repope")
    with pytest.raises(TaskNotFound, match=r"--data: .*no parquet"):
        resolve_task("pope", data=str(tmp_path))


def test_cli_run_pope_end_to_end_and_ls_tasks(tmp_path):
    write_hub_parquet(tmp_path / "pope", HUB_ROWS)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "vrprobe.cli", "run", "--task", "pope", "--data",
           str(tmp_path / "pope"), "--limit", "4", "--out", str(out), "--no-progress",
           "--no-report"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "pope native metrics" in proc.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["data"] == str(tmp_path / "pope")
    native = manifest["summary"]["native_metrics"]["all"]
    assert native["n"] == 4 and 0.0 <= native["f1"] <= 1.0
    bad = subprocess.run(
        [sys.executable, "-m", "vrprobe.cli", "run", "--task", "pope", "--data",
         str(tmp_path / "missing"), "--out", str(tmp_path / "r2")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert bad.returncode == 2 and "--data" in bad.stderr and "Loading" not in bad.stderr
    ls = subprocess.run([sys.executable, "-m", "vrprobe.cli", "ls", "tasks"], capture_output=True,
                        text=True)  # fmt: skip
    assert ls.returncode == 0 and "pope" in ls.stdout and "repope" in ls.stdout


def test_data_is_part_of_the_fingerprint():
    from vrprobe.config import RunConfig

    assert RunConfig(task="pope", data="a").fingerprint() != RunConfig(task="pope").fingerprint()
    assert RunConfig(data="a").fingerprint() != RunConfig(data="b").fingerprint()
