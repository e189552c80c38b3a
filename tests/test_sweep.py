from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from vrprobe.config import RunConfig
from vrprobe.exec import serial
from vrprobe.exec.dispatch import run_plans
from vrprobe.runner import execute, plan_run
from vrprobe.sweep import SweepConfig, SweepError, expand, load_sweep, plan_sweep


def rows_by_key(folder: Path) -> dict[str, str]:
    """Every physical row of a run folder, canonical JSON without timing, keyed by item key."""
    out: dict[str, str] = {}
    for path in sorted((folder / "records").glob("shard-*.parquet")):
        for row in pq.read_table(path).to_pylist():
            assert row["item_key"] not in out, "a key is stored twice"
            row.pop("elapsed_s", None)
            out[row["item_key"]] = json.dumps(row, sort_keys=True)
    return out


def write_sweep(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def test_cells_cross_the_axes_and_entries_override_defaults(tmp_path):
    sweep = SweepConfig(
        models=["demo", {"model": "demo", "dtype": "bfloat16", "max_new_tokens": 3}],
        tasks=["shapes", {"task": "shapes", "split": "easy", "limit": 2}],
        seeds=[0, 1],
        samples=[0, 4],
        limit=5,
        max_new_tokens=6,
    )
    cells = expand(sweep, tmp_path)
    assert len(cells) == 2 * 2 * 2 * 2 == len({c.name for c in cells})
    configs = [c.config for c in cells]
    assert {(c.seed, c.samples) for c in configs} == {(0, 0), (0, 4), (1, 0), (1, 4)}
    assert {c.max_new_tokens for c in configs if c.dtype == "bfloat16"} == {3}
    assert {c.max_new_tokens for c in configs if c.dtype == "float32"} == {6}
    assert {c.limit for c in configs if c.split == "easy"} == {2}
    assert {c.limit for c in configs if c.split == "test"} == {5}
    assert all(
        c.out == tmp_path / "cells" / cell.name for cell, c in zip(cells, configs, strict=True)
    )
    assert len({c.fingerprint() for c in configs}) == len(cells)


def test_a_cell_has_the_keys_of_the_same_run_made_alone(tiny_model_dir, small_task, tmp_path):
    sweep = SweepConfig(models=[str(tiny_model_dir)], tasks=[str(small_task)], max_new_tokens=3)
    (cell,) = expand(sweep, tmp_path / "sweep")
    alone = RunConfig(model=str(tiny_model_dir), task=str(small_task), max_new_tokens=3)
    assert {it.key for it in plan_run(alone.model_copy(update={"out": tmp_path / "a"})).items} == {
        it.key for it in plan_run(cell.config).items
    }


@pytest.mark.parametrize(
    ("data", "needles"),
    [
        ({"tasks": ["shapes"]}, ["models: Field required"]),
        ({"models": ["demo", {"model": "demo", "dtype": "float64"}]}, ["models.1.dtype"]),
        ({"models": ["demo"], "tasks": [{"task": "shapes", "splitt": "x"}]}, ["tasks.0.splitt"]),
        ({"models": ["demo"], "seeds": [0, -1]}, ["seeds.1: Input should be greater"]),
        ({"models": ["demo"], "samples": 999}, ["samples.0: Input should be less"]),
        ({"models": ["demo"], "perturbations": ["none", "no-such"]}, ["perturbations.1"]),
        ({"models": ["demo"], "max_new_tokenz": 3}, ["max_new_tokenz: Extra inputs"]),
        ({"models": ["demo"], "seed": 3, "limit": 0}, ["seed: set it through 'seeds'", "limit"]),
        ({"models": [{"dtype": "float32"}]}, ["models", "'model' string"]),
        ({"models": ["demo", "demo"]}, ["two cells are the same run"]),
    ],
)
def test_invalid_sweeps_name_the_field(data, needles, tmp_path):
    with pytest.raises(SweepError) as info:
        expand(load_sweep(write_sweep(tmp_path / "s.yaml", data)), tmp_path)
    for needle in needles:
        assert needle in str(info.value)


def test_sweep_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: [demo\n")
    with pytest.raises(SweepError, match=r"bad\.yaml is not valid YAML"):
        load_sweep(bad)
    with pytest.raises(SweepError, match="cannot read"):
        load_sweep(tmp_path / "missing.yaml")


def test_serial_sweep_loads_each_model_once_and_resumes(
    tiny_model_dir, small_task, tmp_path, monkeypatch
):
    loads = []
    real = serial.load_for
    monkeypatch.setattr(serial, "load_for", lambda cfg: loads.append(cfg.model) or real(cfg))
    sweep = SweepConfig(
        models=[str(tiny_model_dir)],
        tasks=[str(small_task)],
        seeds=[0, 1],
        samples=[0, 2],
        limit=3,
        max_new_tokens=3,
    )
    plan = plan_sweep(sweep, tmp_path / "sweep")
    summaries = run_plans(plan.plans)
    assert loads == [str(tiny_model_dir)]
    assert [s.computed for s in summaries] == [3, 3, 3, 3]
    manifest = json.loads((tmp_path / "sweep" / "sweep.json").read_text())
    assert [c["name"] for c in manifest["cells"]] == [c.name for c in plan.cells]
    for cell, entry in zip(plan.cells, manifest["cells"], strict=True):
        assert (tmp_path / "sweep" / entry["folder"] / "manifest.json").is_file()
        assert entry["fingerprint"] == cell.config.fingerprint()
    # each cell's records are those of the same run made alone
    alone = cell.config.model_copy(update={"out": tmp_path / "alone"})
    execute(plan_run(alone))
    assert rows_by_key(tmp_path / "alone") == rows_by_key(cell.config.out)
    # a grown sweep computes only the new items
    assert all(p.pending == [] for p in plan_sweep(sweep, tmp_path / "sweep").plans)
    grown = SweepConfig(**{**sweep.model_dump(), "limit": 5})
    assert [len(p.pending) for p in plan_sweep(grown, tmp_path / "sweep").plans] == [2] * 4


def _cli(*args: str):
    from typer.testing import CliRunner

    from vrprobe.cli import app

    return CliRunner().invoke(app, ["run", "--no-progress", "--no-report", *args])


def test_cli_runs_a_sweep_and_refuses_mixed_options(tiny_model_dir, small_task, tmp_path):
    data = {"models": [str(tiny_model_dir)], "tasks": [str(small_task)], "seeds": [0, 1]}
    out = tmp_path / "out"
    path = write_sweep(
        tmp_path / "s.yaml", {**data, "limit": 2, "max_new_tokens": 2, "out": str(out)}
    )
    result = _cli("--config", str(path))
    assert result.exit_code == 0, result.output
    assert "sweep: 2 cells, 4 items, 0 already stored" in result.output
    assert len(list((out / "cells").iterdir())) == 2
    mixed = _cli("--config", str(path), "--limit", "3", "--seed", "2")
    assert mixed.exit_code == 2 and "--limit, --seed: set these in the sweep file" in mixed.output
    bad = write_sweep(tmp_path / "b.yaml", {**data, "dtype": "int8"})
    result = _cli("--config", str(bad))
    assert result.exit_code == 2 and "dtype: Input should be" in result.output
    result = _cli("--workers", "2")
    assert result.exit_code == 2 and "need --executor ray" in result.output
