from __future__ import annotations

import json

import pytest
from PIL import Image

from tests.conftest import write_task
from vrprobe.tasks.base import Sample, SampleError
from vrprobe.tasks.files import FileTask
from vrprobe.tasks.registry import TaskNotFound, resolve_task

GOOD = {"id": "ok", "image": "img.png", "question": "what is it ?", "answers": ["cat"]}


def load(tmp_path, rows, extra_files=None):
    images = {"img.png": Image.new("RGB", (40, 20), (10, 200, 10))}
    manifest = write_task(tmp_path / "t", rows, images)
    for name, data in (extra_files or {}).items():
        (manifest.parent / name).write_bytes(data)
    return list(FileTask(manifest).samples())


def test_good_row_becomes_sample(tmp_path):
    row = {**GOOD, "choices": ["cat", "dog"], "evidence_boxes": [[0, 0, 40, 20]], "extra": 1}
    (sample,) = load(tmp_path, [{**row, "task_type": "symbolic", "answer_kind": "option"}])
    assert isinstance(sample, Sample)
    assert sample.answers == ("cat",) and sample.choices == ("cat", "dog")
    assert sample.evidence_boxes == ((0.0, 0.0, 40.0, 20.0),)
    assert sample.task_type == "symbolic" and sample.answer_kind == "option"
    assert sample.meta == {"extra": 1}
    assert sample.load_image().size == (40, 20)


def test_integer_ids_become_text(tmp_path):
    (sample,) = load(tmp_path, [{**GOOD, "id": 7}])
    assert sample.id == "7"


BAD_ROWS = [
    ("{not json", "line-1", "bad JSON"),
    ("[1, 2]", "line-1", "expected a JSON object"),
    ({**GOOD, "image": "missing.png"}, "ok", "image file not found"),
    ({**GOOD, "image": "broken.png"}, "ok", "cannot read image"),
    ({**GOOD, "image": "empty.png"}, "ok", "cannot read image"),
    ({**GOOD, "question": "   "}, "ok", "question is empty"),
    ({k: v for k, v in GOOD.items() if k != "question"}, "ok", "field 'question'"),
    ({k: v for k, v in GOOD.items() if k != "answers"}, "ok", "field 'answers'"),
    ({**GOOD, "answers": []}, "ok", "field 'answers'"),
    ({**GOOD, "evidence_boxes": [[0, 0, 41, 10]]}, "ok", "outside the 40x20 image"),
    ({**GOOD, "evidence_boxes": [[-1, 0, 5, 5]]}, "ok", "outside"),
    ({**GOOD, "evidence_boxes": [[5, 5, 2, 8]]}, "ok", "inverted"),
    ({**GOOD, "evidence_boxes": [[1, 2, 3]]}, "ok", "evidence_boxes"),
    ({**GOOD, "task_type": "banana"}, "ok", "field 'task_type'"),
    ({**GOOD, "evidence_boxes": [[float("nan"), 0, 5, 5]]}, "ok", "non-finite"),
    ({**GOOD, "evidence_boxes": [[0, 0, float("inf"), 5]]}, "ok", "non-finite"),
    ({**GOOD, "question": "why " * 5001}, "ok", "at most 20000 characters"),
    ({k: v for k, v in GOOD.items() if k != "id"}, "line-1", "field 'id'"),
    ({k: v for k, v in GOOD.items() if k != "image"}, "ok", "field 'image'"),
    ({**GOOD, "image": "notes.png"}, "ok", "cannot read image"),
]


@pytest.mark.parametrize(("row", "sample_id", "needle"), BAD_ROWS)
def test_bad_row_becomes_named_error_and_loading_continues(tmp_path, row, sample_id, needle):
    files = {
        "broken.png": b"\x89PNG\r\n\x1a\n garbage",
        "empty.png": b"",
        "notes.png": b"a text file named .png\n",
    }
    results = load(tmp_path, [row, {**GOOD, "id": "after"}], files)
    assert len(results) == 2
    err, after = results
    assert isinstance(err, SampleError), err
    assert err.sample_id == sample_id
    assert needle in err.message
    assert isinstance(after, Sample) and after.id == "after"


def test_truncated_image_fails_at_load_time_with_its_name(tmp_path):
    src = tmp_path / "full.png"
    Image.new("RGB", (64, 64), (1, 2, 3)).save(src)
    data = src.read_bytes()
    (sample,) = load(tmp_path, [{**GOOD, "image": "trunc.png"}], {"trunc.png": data[:-40]})
    with pytest.raises(SampleError, match=r"trunc\.png"):
        sample.load_image()


def test_duplicate_id_is_an_error_with_its_own_key(tmp_path):
    first, dup = load(tmp_path, [GOOD, GOOD])
    assert isinstance(first, Sample)
    assert isinstance(dup, SampleError) and "duplicate id" in dup.message
    assert dup.sample_id != first.id


def test_limit_counts_rows(tmp_path):
    rows = [{**GOOD, "id": str(i)} for i in range(5)]
    manifest = write_task(tmp_path / "t", rows, {"img.png": Image.new("RGB", (8, 8))})
    assert len(list(FileTask(manifest).samples(limit=3))) == 3


def test_saved_datasets_folder_loads_like_jsonl(tmp_path):
    datasets = pytest.importorskip("datasets")
    img = Image.new("RGB", (40, 20), (0, 0, 255))
    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "image": datasets.Image(),
            "question": datasets.Value("string"),
            "answers": datasets.Sequence(datasets.Value("string")),
            "evidence_boxes": datasets.Sequence(datasets.Sequence(datasets.Value("float32"))),
        }
    )
    data = {
        "id": ["a", "b", "c"],
        "image": [img, img, img],
        "question": ["q1", "q2", ""],
        "answers": [["blue"], ["x"], ["y"]],
        "evidence_boxes": [[[0, 0, 10, 10]], [], [[0, 0, 1, 1]]],
    }
    ds = datasets.Dataset.from_dict(data, features=features)
    ds.save_to_disk(tmp_path / "flat")
    datasets.DatasetDict({"test": ds}).save_to_disk(tmp_path / "dict")
    for task in (resolve_task(str(tmp_path / "flat")), resolve_task(str(tmp_path / "dict"))):
        a, b, c = task.samples()
        assert isinstance(a, Sample) and a.load_image().size == (40, 20)
        assert a.evidence_boxes == ((0.0, 0.0, 10.0, 10.0),) and a.answers == ("blue",)
        assert isinstance(b, Sample) and b.evidence_boxes == ()
        assert isinstance(c, SampleError) and "question" in c.message


def test_unknown_task_names_the_choices(tmp_path):
    with pytest.raises(TaskNotFound, match="shapes"):
        resolve_task("nope")
    (tmp_path / "x.json").write_text(json.dumps(GOOD))
    with pytest.raises(TaskNotFound, match=r"\.jsonl"):
        resolve_task(str(tmp_path / "x.json"))
    with pytest.raises(TaskNotFound, match="save_to_disk"):
        resolve_task(str(tmp_path))


def test_non_utf8_line_is_an_error_and_neighbours_load(tmp_path):
    manifest = write_task(tmp_path / "t", [GOOD], {"img.png": Image.new("RGB", (4, 4))})
    good = json.dumps({**GOOD, "id": "after"}).encode()
    bad = b'{"id": "latin", "question": "caf\xe9 ?"}'
    manifest.write_bytes(b"\xef\xbb\xbf" + json.dumps(GOOD).encode() + b"\n" + bad + b"\n" + good)
    first, err, after = FileTask(manifest).samples()
    assert isinstance(first, Sample) and first.id == "ok"  # a UTF-8 BOM on line 1 is fine
    assert isinstance(err, SampleError) and err.sample_id == "line-2"
    assert "not valid UTF-8 (byte 32" in err.message
    assert isinstance(after, Sample) and after.id == "after"


def test_unreadable_datasets_folder_fails_before_the_model(tmp_path):
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_dict({"id": ["a"], "question": ["q"]})
    ds.save_to_disk(tmp_path / "ds")
    for arrow in (tmp_path / "ds").glob("*.arrow"):
        arrow.write_bytes(b"not arrow at all")
    task = resolve_task(str(tmp_path / "ds"))
    with pytest.raises(TaskNotFound, match="cannot read the datasets folder"):
        list(task.samples())
