"""`vrprobe ls models` lists every registered family with its model types and capabilities."""

from __future__ import annotations

from typer.testing import CliRunner

from vrprobe.cli import app
from vrprobe.cli_ls import family_rows
from vrprobe.models.families import all_adapters
from vrprobe.models.families.base import CAPABILITIES


def test_ls_models_lists_every_family_and_type():
    result = CliRunner().invoke(app, ["ls", "models"])
    assert result.exit_code == 0, result.output
    adapters = all_adapters()
    assert len(adapters) >= 2
    for name, adapter in adapters.items():
        assert name in result.output
        for model_type in adapter.model_types:
            assert model_type in result.output


def test_capability_columns_follow_supports():
    rows = {r["family"]: r for r in family_rows()}
    assert rows.keys() == all_adapters().keys()
    for name, adapter in all_adapters().items():
        marks = {cap for cap in CAPABILITIES if rows[name][cap] == "yes"}
        assert marks == set(adapter.supports) & set(CAPABILITIES), name
        assert set(rows[name]["model types"].split(", ")) == set(adapter.model_types)


def test_ls_without_subcommand_shows_help():
    result = CliRunner().invoke(app, ["ls"])
    assert "models" in result.output


def test_ls_tasks_lists_benchmarks_with_answer_kinds_and_boxes():
    from vrprobe.cli_ls import task_rows

    rows = {r["task"]: r for r in task_rows()}
    expected = {
        "mmmu": ("option, text", "no"),
        "mmmu-pro": ("option", "no"),
        "mmmu-pro-vision": ("option", "no"),
        "vstar": ("option", "yes"),
        "hrbench": ("option", "no"),
        "visualcot-textvqa": ("text", "yes"),
        "visualcot-infographicsvqa": ("text", "yes"),
    }
    for name, (kinds, boxes) in expected.items():
        assert (rows[name]["answer kinds"], rows[name]["boxes"]) == (kinds, boxes), name
    result = CliRunner().invoke(app, ["ls", "tasks"])
    assert result.exit_code == 0 and "visualcot-sroie" in result.output
