"""`vrprobe intervene RUN_DIR --kind dims|heads|replace|patch`: model-space intervention sweeps.

Every flag is checked (against the run's manifest and the model's config) before the model
loads; records go to ``RUN_DIR/interventions/<kind>/`` and a second identical call adds nothing.
docs/interventions.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from vrprobe.cli_console import console, fail, progress_bar
from vrprobe.interventions.settings import DEFAULT_FRACTIONS, DEFAULT_SEEDS

_progress = progress_bar("intervening")


def _print(summary: dict, folder: Path) -> None:
    table = Table(title="vrprobe intervene", header_style="bold")
    for name, justify in (("setting", "left"), ("n", "right"), ("accuracy", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for setting, entry in summary["accuracy"].items():
        table.add_row(setting, str(entry["n"]), f"{entry['accuracy']:.3f}")
    Console().print(table)
    console.print(
        f"{summary['items']} items ({summary['computed']} computed now, "
        f"{summary['items'] - summary['computed']} already stored), {summary['errors']} errors"
    )
    for example in summary["error_examples"]:
        console.print(f"  [yellow]error[/] {example}")
    console.print(f"records: [bold]{folder}[/]; tables and figures: vrprobe analyze / report RUN")


def intervene(
    run_dir: Annotated[Path, typer.Argument(help="a run folder made by `vrprobe run`")],
    kind: Annotated[str, typer.Option(help="dims | heads | replace | patch")],
    layer: Annotated[
        int | None, typer.Option(help="dims: decoder layer (default: most predictive)")
    ] = None,
    fractions: Annotated[
        str, typer.Option(help="dims: fractions of the width to zero")
    ] = DEFAULT_FRACTIONS,
    k: Annotated[str | None, typer.Option("--k", help="dims: counts instead of fractions")] = None,
    seeds: Annotated[int, typer.Option(help="dims: random-k control seeds")] = DEFAULT_SEEDS,
    layers: Annotated[str | None, typer.Option(help="heads: layers (default: all)")] = None,
    ranges: Annotated[
        str | None, typer.Option(help="replace/patch: layer ranges i:j = [i, j), comma-separated")
    ] = None,
    donor: Annotated[
        str | None, typer.Option(help="replace: checkpoint of the same architecture")
    ] = (None),
    source: Annotated[str, typer.Option(help="patch: counterfactual image, blank | blur-kN")] = (
        "blank"
    ),
    positions: Annotated[str, typer.Option(help="patch: image | all (token positions)")] = "image",
    limit: Annotated[int | None, typer.Option(help="only the first N samples of the run")] = None,
    retry_errors: Annotated[bool, typer.Option(help="recompute stored error records")] = False,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
) -> None:
    """Re-answer a run's samples with the model changed: zeroed dims, ablated heads, swapped
    layers or patched hidden states; one resumable record per (sample, setting)."""
    from vrprobe.interventions import plan as planning
    from vrprobe.interventions.run import execute
    from vrprobe.interventions.settings import SettingError
    from vrprobe.models.loading import ModelLoadError
    from vrprobe.store.run import RunFolderMismatch
    from vrprobe.tasks.registry import TaskNotFound

    request = planning.Request(
        kind=kind,
        layer=layer,
        fractions=fractions,
        ks=k,
        seeds=seeds,
        layers=layers,
        ranges=ranges,
        donor=donor,
        source=source,
        positions=positions,
        limit=limit,
        retry_errors=retry_errors,
    )
    try:
        plan = planning.plan(run_dir, request)
        console.print(
            f"{len(plan.settings)} settings × {len(plan.items) // max(len(plan.settings), 1)} "
            f"samples = {len(plan.items)} items, {len(plan.items) - len(plan.pending)} already "
            f"stored in {plan.store.root}"
        )
        summary = execute(plan, _progress if progress else None)
    except RunFolderMismatch as exc:
        raise fail(f"{exc} (for --kind replace: another --donor)") from None
    except (SettingError, TaskNotFound, ModelLoadError, OSError) as exc:
        raise fail(str(exc)) from None
    _print(summary, plan.store.root)
