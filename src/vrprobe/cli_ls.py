"""`vrprobe ls`: what this installation can run (`ls models`: every registered family)."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

ls_app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)


def family_rows() -> list[dict[str, str]]:
    """One row per registered family: name, model types, capabilities (yes / -), notes.

    >>> rows = {r["family"]: r for r in family_rows()}
    >>> rows["llava"]["model types"], rows["llava"]["capture"]
    ('llava', 'yes')
    """
    from vrprobe.models.families import all_adapters
    from vrprobe.models.families.base import CAPABILITIES

    rows = []
    for name, adapter in sorted(all_adapters().items()):
        row = {"family": name, "model types": ", ".join(adapter.model_types)}
        row.update({cap: "yes" if cap in adapter.supports else "-" for cap in CAPABILITIES})
        row["notes"] = adapter.notes
        rows.append(row)
    return rows


@ls_app.command("models")
def ls_models() -> None:
    """Every model family vrprobe has an adapter for: the `config.model_type` values it serves
    and the capabilities implemented and tested for it."""
    rows = family_rows()
    table = Table(title="model families (`--model` resolves by config.model_type)")
    for column in rows[0]:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*row.values())
    Console(width=max(Console().width, 160)).print(table)


def task_rows() -> list[dict[str, str]]:
    """One row per task name: answer kinds, evidence boxes, task-type tag, hub id.

    >>> rows = {r["task"]: r for r in task_rows()}
    >>> rows["pope"]["answer kinds"], rows["pope"]["boxes"]
    ('yesno', 'no')
    """
    from vrprobe.tasks.benchmarks import BENCHMARKS

    rows = [
        {
            "task": "shapes",
            "answer kinds": "text, yesno, number",
            "boxes": "yes",
            "task type": "visual, symbolic",
            "hub id": "-",
            "description": "the project's synthetic grounded shapes (generated)",
        }
    ]
    for b in BENCHMARKS.values():
        rows.append(
            {
                "task": b.name,
                "answer kinds": ", ".join(b.kinds),
                "boxes": "yes" if b.boxes else "no",
                "task type": b.task_type,
                "hub id": b.hub_id or "-",
                "description": b.description,
            }
        )
    return rows


@ls_app.command("tasks")
def ls_tasks() -> None:
    """Tasks by name: answer kinds, whether they carry evidence boxes, task-type tag, hub id.
    Benchmarks read `--data PATH|HUB_ID` (layouts: docs/tasks.md)."""
    rows = task_rows()
    table = Table(title="tasks (`--task NAME`; also FILE.jsonl or a saved datasets folder)")
    for column in rows[0]:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*row.values())
    Console(width=max(Console().width, 160)).print(table)
