from __future__ import annotations

import json
import os
import random
import re
import subprocess
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from tests.conftest import write_task
from tests.killing import finish, launch, sigkill, vrprobe
from vrprobe.config import RunConfig
from vrprobe.runner import execute, plan_run


def config(model_dir, task, out, **kw) -> RunConfig:
    return RunConfig(model=str(model_dir), task=str(task), out=out, max_new_tokens=3, **kw)


def raw_rows(out: Path) -> list[dict]:
    """Every physical row of every shard (no deduplication)."""
    rows = []
    for path in sorted((out / "records").glob("shard-*.parquet")):
        rows.extend(pq.read_table(path).to_pylist())
    return rows


def test_run_writes_manifest_records_and_summary(tiny_model_dir, small_task, tmp_path):
    out = tmp_path / "run"
    summary = execute(plan_run(config(tiny_model_dir, small_task, out)))
    assert summary.items == 6 and summary.answered == 6 and summary.errors == 0
    manifest = json.loads((out / "manifest.json").read_text())
    for field in ("config", "fingerprint", "model_revision", "environment", "summary"):
        assert field in manifest
    assert manifest["attn_implementation"] == "sdpa" and manifest["batch_size"] == 1
    assert manifest["environment"]["versions"]["transformers"]
    rows = raw_rows(out)
    assert len(rows) == 6
    needed = {"item_key", "sample_id", "task", "question", "answers", "prediction", "correct"}
    assert needed <= set(rows[0]) and all(r["error"] is None for r in rows)
    assert all(isinstance(r["prediction"], str) for r in rows)


def test_resume_computes_only_missing_items(tiny_model_dir, small_task, tmp_path):
    out = tmp_path / "run"
    first = execute(plan_run(config(tiny_model_dir, small_task, out, limit=2)))
    assert first.computed == 2
    plan = plan_run(config(tiny_model_dir, small_task, out))
    assert len(plan.pending) == 4
    second = execute(plan)
    assert second.computed == 4 and second.items == 6
    again = plan_run(config(tiny_model_dir, small_task, out))
    assert again.pending == []
    assert len(raw_rows(out)) == 6


def test_bad_rows_become_error_records_and_the_run_continues(tiny_model_dir, tmp_path):
    good = {"id": "g", "image": "a.png", "question": "what ?", "answers": ["x"]}
    rows = [
        good,
        "{oops",
        {**good, "id": "missing", "image": "nope.png"},
        {**good, "id": "g2"},
        {**good, "id": "corrupt", "image": "bad.png"},
    ]
    manifest = write_task(tmp_path / "t", rows, {"a.png": Image.new("RGB", (20, 20))})
    full = tmp_path / "full.png"
    Image.new("RGB", (64, 64), (9, 9, 9)).save(full)
    (manifest.parent / "bad.png").write_bytes(full.read_bytes()[:-30])
    summary = execute(plan_run(config(tiny_model_dir, manifest, tmp_path / "run")))
    assert summary.answered == 2 and summary.errors == 3
    errors = {r["sample_id"]: r["error"] for r in raw_rows(tmp_path / "run") if r["error"]}
    assert "bad JSON" in errors["line-2"]
    assert "not found" in errors["missing"]
    assert "bad.png" in errors["corrupt"]


def test_retry_errors_recomputes_only_errors(tiny_model_dir, tmp_path):
    good = {"id": "g", "image": "a.png", "question": "what ?", "answers": ["x"]}
    manifest = write_task(
        tmp_path / "t",
        [good, {**good, "id": "late", "image": "late.png"}],
        {"a.png": Image.new("RGB", (20, 20))},
    )
    out = tmp_path / "run"
    assert execute(plan_run(config(tiny_model_dir, manifest, out))).errors == 1
    Image.new("RGB", (20, 20)).save(manifest.parent / "late.png")
    assert plan_run(config(tiny_model_dir, manifest, out)).pending == []
    plan = plan_run(config(tiny_model_dir, manifest, out, retry_errors=True))
    assert [it.sample_id for it in plan.pending] == ["late"]
    assert execute(plan).errors == 0


def _cli(*args: str) -> list[str]:
    return vrprobe("run", "--no-progress", "--no-report", *args)


def test_killed_runs_resume_to_the_uninterrupted_records(tiny_model_dir, tmp_path):
    images = {f"{i}.png": Image.new("RGB", (24, 16 + i), (i * 9, 50, 200)) for i in range(8)}
    rows = [
        {"id": f"r{i}", "image": f"{i % 8}.png", "question": f"q {i} ?", "answers": ["a"]}
        for i in range(120)
    ]
    manifest = write_task(tmp_path / "t", rows, images)
    common = ["--model", str(tiny_model_dir), "--task", str(manifest), "--max-new-tokens", "4"]
    reference = tmp_path / "reference"
    finish(_cli(*common, "--out", str(reference)))

    out = tmp_path / "killed"
    args = _cli(*common, "--out", str(out), "--flush-every", "5")
    rng = random.Random(7)
    for _ in range(3):
        before = len(raw_rows(out)) if out.exists() else 0
        proc = launch(args)
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            if out.exists() and len(raw_rows(out)) > before:
                break  # mid-run: at least one new shard landed
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 0.4))
        assert sigkill(proc), "the run finished before it could be killed"
        assert 0 < len(raw_rows(out)) < 120
    finish(args)

    got, want = raw_rows(out), raw_rows(reference)
    assert len(got) == len({r["item_key"] for r in got}) == 120

    def canonical(row: dict) -> str:  # NaN == NaN here, unlike in a dict comparison
        return json.dumps({k: v for k, v in row.items() if k != "elapsed_s"}, sort_keys=True)

    by_key = {r["item_key"]: canonical(r) for r in want}
    for row in got:
        assert canonical(row) == by_key[row["item_key"]]
    sessions = json.loads((out / "manifest.json").read_text())["sessions"]
    assert len(sessions) == 4


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--samples", "-1"], "samples"),
        (["--dtype", "float64"], "dtype"),
        (["--task", "no-such-task"], "unknown task"),
        (["--model", "./no/such/dir"], "does not exist"),
        (["--limit", "0"], "limit"),
        (["--signals", "spatial,colour"], "signals"),
        (["--top-p", "1.5"], "top_p"),
    ],
)
def test_invalid_input_fails_before_the_model_loads(args, needle, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        _cli(*args, "--out", str(tmp_path / "o")), capture_output=True, text=True, env=env
    )
    assert proc.returncode == 2
    assert needle in proc.stderr


def documented_columns() -> set[str]:
    """Every column named in the first cell of a table row of docs/records.md."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "records.md").read_text()
    names: set[str] = set()
    for line in doc.splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([a-z_0-9]+)`", line.split("|")[1]))
    return names


def test_every_documented_column_is_written(tiny_model_dir, small_task, tmp_path):
    out = tmp_path / "run"
    execute(plan_run(config(tiny_model_dir, small_task, out, samples=2, limit=2)))
    rows = raw_rows(out)
    missing = documented_columns() - set(rows[0])
    assert not missing, f"documented but not written: {sorted(missing)}"
    row = rows[0]
    n_layers = len(row["layer_entropy"])
    assert len(row["layer_maps"]) == n_layers == 2
    assert len(row["layer_maps"][0]) == row["grid_rows"] * row["grid_cols"] == 16
    assert len(row["step_layer_vam"]) == row["n_new_tokens"] == len(row["step_entropy"])
    assert len(row["hidden_prompt"]) == n_layers + 1 and len(row["sc_answers"]) == 2
    assert 0 <= row["evidence_mass"] <= row["vam"] <= 1


def test_signal_groups_select_columns(tiny_model_dir, small_task, tmp_path):
    out = tmp_path / "run"
    cfg = config(tiny_model_dir, small_task, out, limit=1, signals=("uncertainty",))
    execute(plan_run(cfg))
    (row,) = raw_rows(out)
    assert "full_entropy" in row
    assert not {"layer_maps", "vam", "evidence_mass", "hidden_prompt"} & set(row)


def test_hostile_images_and_questions_end_as_records_with_counts(tmp_path):
    folder = tmp_path / "t"
    folder.mkdir()
    Image.new("RGB", (1, 1), (200, 10, 10)).save(folder / "one.png")
    Image.fromarray(np.full((30, 40), 40000, np.uint16)).save(folder / "wide.png")
    Image.new("RGBA", (48, 32), (0, 0, 255, 0)).save(folder / "alpha.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 64x32, displayed 32x64
    Image.new("RGB", (64, 32), (0, 200, 0)).save(folder / "rot.png", exif=exif)
    (folder / "text.png").write_text("not an image")
    base = {"question": "what colour is the square ?", "answers": ["red"]}
    rows = [
        {**base, "id": "one", "image": "one.png"},
        {**base, "id": "wide", "image": "wide.png"},
        {**base, "id": "alpha", "image": "alpha.png"},
        {**base, "id": "rot", "image": "rot.png", "evidence_boxes": [[0, 40, 32, 64]]},
        {**base, "id": "long", "image": "one.png", "question": "what " * 200 + "?"},
        {**base, "id": "text", "image": "text.png"},
    ]
    manifest = write_task(folder, rows, {})
    with open(manifest, "ab") as fh:
        fh.write(b'{"id": "latin1", "question": "caf\xe9"}\n')
    cfg = RunConfig(model="demo", task=str(manifest), out=tmp_path / "run", max_new_tokens=2)
    summary = execute(plan_run(cfg))
    assert (summary.items, summary.answered, summary.errors) == (7, 4, 3)
    by_id = {r["sample_id"]: r for r in raw_rows(tmp_path / "run")}
    assert "exceeds the model's context of 128 tokens" in by_id["long"]["error"]
    assert "cannot read image" in by_id["text"]["error"]
    assert "not valid UTF-8" in by_id["line-7"]["error"]
    assert (by_id["rot"]["image_width"], by_id["rot"]["image_height"]) == (32, 64)
    assert by_id["rot"]["evidence_mass"] is not None
    assert (by_id["one"]["image_width"], by_id["one"]["image_height"]) == (1, 1)


def test_a_task_with_no_valid_row_ends_with_counts_and_loads_no_model(tmp_path, monkeypatch):
    rows = ["{broken", {"id": "x", "image": "missing.png", "question": "q ?", "answers": ["a"]}]
    manifest = write_task(tmp_path / "t", rows, {})

    def no_model(*args, **kwargs):
        raise AssertionError("the model must not load when every row is an error")

    monkeypatch.setattr("vrprobe.runner.load_model", no_model)
    summary = execute(plan_run(RunConfig(model="demo", task=str(manifest), out=tmp_path / "r")))
    assert (summary.items, summary.answered, summary.errors) == (2, 0, 2)
    proc = subprocess.run(
        _cli("--task", str(manifest), "--out", str(tmp_path / "cli")),
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "no valid sample: all 2 items are error records (2 errors" in proc.stderr
    assert "bad JSON" in proc.stderr and "image file not found" in proc.stderr
