"""`vrprobe run --config sweep.yaml`: plan every cell, execute them, summarise per cell."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

# `run` options that still apply with --config; every other one belongs in the sweep file.
SWEEP_CLI_OPTIONS = frozenset(
    {"sweep_file", "out", "retry_errors", "progress", "report", "ctx"}
    | {"executor", "workers", "address", "gpus_per_worker"}
)


def explicit_run_options(ctx: typer.Context | None) -> list[str]:
    """`run` options given on the command line that a sweep file would silently override."""
    if ctx is None:
        return []
    given = []
    for name in ctx.params:
        source = ctx.get_parameter_source(name)  # typer's click: compare the enum by name
        if (
            name not in SWEEP_CLI_OPTIONS
            and source
            and source.name not in ("DEFAULT", "DEFAULT_MAP")
        ):
            given.append("--" + name.replace("_", "-"))
    return given


def run_sweep(
    ctx: typer.Context | None,
    path: Path,
    executor: str,
    options: dict[str, Any],
    *,
    progress: bool,
    report: bool,
) -> None:
    from vrprobe.cli import _analyze_and_report, _progress
    from vrprobe.cli_console import console, fail
    from vrprobe.exec.dispatch import run_plans
    from vrprobe.models.loading import ModelLoadError
    from vrprobe.store.run import RunFolderMismatch
    from vrprobe.sweep import SweepError, default_sweep_out, load_sweep, plan_sweep
    from vrprobe.tasks.registry import TaskNotFound

    given = explicit_run_options(ctx)
    if given:
        raise fail(f"{', '.join(given)}: set these in the sweep file, not next to --config")
    params = ctx.params if ctx is not None else {}
    overrides = {"retry_errors": True} if params.get("retry_errors") else {}
    try:
        sweep = load_sweep(path)
        out = params.get("out") or sweep.out or default_sweep_out(path)
        plan = plan_sweep(sweep, Path(out), **overrides)
        pending = sum(len(p.pending) for p in plan.plans)
        total = sum(len(p.items) for p in plan.plans)
        console.print(
            f"sweep: {len(plan.cells)} cells, {total} items, {total - pending} already stored "
            f"in {plan.out} (executor {executor})"
        )
        summaries = run_plans(plan.plans, executor, _progress if progress else None, **options)
    except SweepError as exc:
        raise fail("invalid sweep file\n" + str(exc)) from None
    except (TaskNotFound, ModelLoadError, RunFolderMismatch) as exc:
        raise fail(str(exc)) from None
    table = Table(title=f"vrprobe sweep ({plan.out})", header_style="bold")
    for name in ("cell", "items", "computed", "errors", "accuracy"):
        table.add_column(name, justify="left" if name == "cell" else "right")
    for cell, s in zip(plan.cells, summaries, strict=True):
        acc = "n/a" if s.accuracy is None else f"{s.accuracy:.3f}"
        table.add_row(cell.name, str(s.items), str(s.computed), str(s.errors), acc)
    Console().print(table)
    console.print(f"sweep folder: [bold]{plan.out}[/] (sweep.json, cells/*/)")
    answered = [p.out for p, s in zip(plan.plans, summaries, strict=True) if s.answered]
    if report and answered:
        _analyze_and_report(answered, n_boot=1000, seed=0)
