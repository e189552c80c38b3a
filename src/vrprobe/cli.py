"""The `vrprobe` command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from vrprobe.cli_check import check as check_cmd
from vrprobe.cli_console import console, fail, progress_bar
from vrprobe.cli_intervene import intervene as intervene_cmd
from vrprobe.cli_ls import ls_app
from vrprobe.config import RunConfig, format_validation_error
from vrprobe.perturb.registry import parse as parse_perturb
from vrprobe.summary import RunSummary

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
app.add_typer(ls_app, name="ls")
app.command("check")(check_cmd)
app.command("intervene")(intervene_cmd)
_progress = progress_bar("answering")


def _print_summary(summary: RunSummary, out: Path) -> None:
    table = Table(title="vrprobe run", show_header=True, header_style="bold")
    table.add_column("question type")
    table.add_column("n", justify="right")
    table.add_column("accuracy", justify="right")
    for name, entry in summary.by_question_type.items():
        table.add_row(name, str(entry["n"]), f"{entry['accuracy']:.3f}")
    acc = "n/a" if summary.accuracy is None else f"{summary.accuracy:.3f}"
    n = sum(e["n"] for e in summary.by_question_type.values()) or summary.answered
    table.add_row("[bold]overall", f"[bold]{n}", f"[bold]{acc}")
    Console().print(table)
    if summary.by_perturbation:
        shown = ", ".join(f"{k} {v['accuracy']:.3f}" for k, v in summary.by_perturbation.items())
        console.print(f"accuracy per perturbation (table above: none): {shown}")
    console.print(
        f"{summary.items} items ({summary.computed} computed now, "
        f"{summary.items - summary.computed} already stored), {summary.errors} errors"
    )
    for example in summary.error_examples:
        console.print(f"  [yellow]error[/] {example}")
    console.print(f"run folder: [bold]{out}[/] (manifest.json, records/*.parquet)")


def nothing_answered(summary: RunSummary) -> str:
    """The closing message of a run in which no item could be answered.

    >>> s = RunSummary(items=3, computed=3, answered=0, correct=0, errors=3, accuracy=None)
    >>> nothing_answered(s)
    'no valid sample: all 3 items are error records (3 errors, examples above); nothing to analyse'
    """
    if summary.items == 0:
        return "the task has no rows (empty manifest or dataset, or --limit selected none)"
    return (
        f"no valid sample: all {summary.items} items are error records "
        f"({summary.errors} errors, examples above); nothing to analyse"
    )


def _print_native(name: str, metrics: dict) -> None:
    """The benchmark's own protocol numbers, one line per group."""
    console.print(f"[bold]{name} native metrics[/] (docs/tasks.md)")
    flat = {"all": metrics} if not any(isinstance(v, dict) for v in metrics.values()) else metrics
    for group, values in flat.items():
        if isinstance(values, dict):
            shown = ", ".join(
                f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in values.items()
            )
            console.print(f"  {group}: {shown}")
        else:
            console.print(
                f"  {group}: {values:.3f}" if isinstance(values, float) else f"  {group}: {values}"
            )


@app.command()
def run(
    model: Annotated[str, typer.Option(help="'demo', a local model folder, or a hub id")] = "demo",
    task: Annotated[
        str, typer.Option(help="'shapes', a benchmark, a task .yaml, a .jsonl or a folder")
    ] = ("shapes"),
    split: Annotated[str, typer.Option(help="split of a generated or saved task")] = "test",
    data: Annotated[
        str | None, typer.Option(help="a benchmark's local copy (file or folder) or hub id")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="at most this many samples")] = None,
    seed: Annotated[int, typer.Option(help="base seed")] = 0,
    samples: Annotated[int, typer.Option(help="K sampled answers (self-consistency)")] = 0,
    temperature: Annotated[float, typer.Option(help="sampling temperature (with --samples)")] = 0.7,
    top_p: Annotated[float, typer.Option(help="nucleus sampling top-p (with --samples)")] = 0.9,
    signals: Annotated[
        str,
        typer.Option(help="comma-separated groups: spatial,grounding,evidence,uncertainty,hidden"),
    ] = "all",
    max_new_tokens: Annotated[int, typer.Option(help="generation budget per answer")] = 8,
    perturb: Annotated[
        str,
        typer.Option(
            help="comma-separated image perturbations, each its own item: none, blur (8 levels), "
            "blank, mask-top (3 mechanisms), highlight (method, ablations, instruction-only) "
            "or single names (blur-k15, mask-top-keys, ...); see docs/perturbations.md"
        ),
    ] = "none",
    highlight_profile: Annotated[
        Path | None, typer.Option(help="reuse another run's highlight layer profile")
    ] = None,
    dtype: Annotated[str, typer.Option(help="float32 | bfloat16 | float16")] = "float32",
    device: Annotated[str, typer.Option(help="torch device")] = "cpu",
    out: Annotated[Path | None, typer.Option(help="run folder (resumed if it exists)")] = None,
    retry_errors: Annotated[bool, typer.Option(help="recompute stored error records")] = False,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
    flush_every: Annotated[int, typer.Option(help="write records every N items")] = 16,
    report: Annotated[bool, typer.Option(help="analyse the run and write report.html")] = True,
    sweep_file: Annotated[
        Path | None, typer.Option("--config", help="a sweep YAML (models × tasks × ...)")
    ] = None,
    executor: Annotated[str, typer.Option(help="serial | ray")] = "serial",
    workers: Annotated[
        int | None, typer.Option(help="Ray actors (default: fill the cluster)", min=1)
    ] = None,
    address: Annotated[str | None, typer.Option(help="Ray cluster address (default: local)")] = (
        None
    ),
    gpus_per_worker: Annotated[float | None, typer.Option(help="GPUs per Ray actor", min=0)] = None,
    ctx: typer.Context = None,  # type: ignore[assignment]
) -> None:
    """Answer a task's questions with a model and record everything in a run folder."""
    from vrprobe.exec.dispatch import ExecutorUnavailable, check_executor, run_plans
    from vrprobe.models.loading import ModelLoadError
    from vrprobe.runner import plan_run
    from vrprobe.store.run import RunFolderMismatch
    from vrprobe.tasks.registry import TaskNotFound

    try:
        check_executor(executor)
    except ExecutorUnavailable as exc:
        raise fail(str(exc)) from None
    options = {"workers": workers, "address": address, "gpus_per_worker": gpus_per_worker}
    if executor == "serial" and any(v is not None for v in options.values()):
        raise fail("--workers, --address and --gpus-per-worker need --executor ray")
    if sweep_file is not None:
        from vrprobe.cli_sweep import run_sweep

        run_sweep(ctx, sweep_file, executor, options, progress=progress, report=report)
        return
    try:
        config = RunConfig(
            model=model,
            task=task,
            split=split,
            data=data,
            limit=limit,
            seed=seed,
            samples=samples,
            temperature=temperature,
            top_p=top_p,
            **({} if signals == "all" else {"signals": tuple(signals.split(","))}),
            max_new_tokens=max_new_tokens,
            perturb=parse_perturb(perturb),
            highlight_profile=highlight_profile,
            dtype=dtype,
            device=device,
            out=out,
            retry_errors=retry_errors,
            progress=progress,
            flush_every=flush_every,
        )
    except ValidationError as exc:
        raise fail("invalid option\n" + format_validation_error(exc)) from None
    try:
        plan = plan_run(config)
        console.print(
            f"{len(plan.items)} items, {len(plan.items) - len(plan.pending)} already stored "
            f"in {plan.out}"
        )
        (summary,) = run_plans([plan], executor, _progress if progress else None, **options)
    except (TaskNotFound, ModelLoadError, RunFolderMismatch) as exc:
        raise fail(str(exc)) from None
    _print_summary(summary, plan.out)
    if summary.native_metrics:
        _print_native(plan.task.name, summary.native_metrics)
    if not summary.answered:
        raise fail(nothing_answered(summary))
    if report and summary.answered:
        _analyze_and_report([plan.out], n_boot=1000, seed=0)


def _analyze_and_report(runs: list[Path], *, n_boot: int, seed: int, html: bool = True) -> None:
    from vrprobe.analysis.analyze import analyze_runs
    from vrprobe.analysis.probe_table import write_probe_table
    from vrprobe.report import write_report
    from vrprobe.report.gallery import task_image_loader

    with console.status("analysing: hidden-state probes, bootstrap CIs, interaction model"):
        for run_dir in runs:
            write_probe_table(run_dir, seed=seed)
        result = analyze_runs(runs, n_boot=n_boot, seed=seed)
    _print_headline(result["headline"])
    for run_dir in runs:
        console.print(f"analysis: [bold]{run_dir / 'analysis'}[/]")
        if html:
            path = write_report(run_dir, image_loader=task_image_loader(run_dir), n_boot=n_boot)
            console.print(f"report: [bold]{path}[/]")


def _print_headline(rows: list[dict]) -> None:
    if not rows:
        console.print("no scalar signals to analyse")
        return
    one_run = len({row["run"] for row in rows}) == 1
    names = [name for name in rows[0] if not (one_run and name == "run")]
    table = Table(title="which signals predict a correct answer", header_style="bold")
    for name in names:
        table.add_column(name, no_wrap=name in ("signal", "AUROC [95% CI]"))
    for row in rows:
        table.add_row(*(row[name] for name in names))
    Console(width=max(Console().width, 110)).print(table)


def _existing_runs(runs: list[Path]) -> list[Path]:
    for run_dir in runs:
        if not (run_dir / "manifest.json").is_file():
            raise fail(f"{run_dir} is not a run folder (no manifest.json)")
    return runs


@app.command()
def analyze(
    runs: Annotated[list[Path], typer.Argument(help="run folders; transfer is fit on the first")],
    n_boot: Annotated[int, typer.Option(help="bootstrap resamples for CIs", min=10)] = 1000,
    seed: Annotated[int, typer.Option(help="seed for bootstrap and CV splits")] = 0,
) -> None:
    """Relate every signal to correctness; writes RUN/analysis/ and prints the headline table."""
    _analyze_and_report(_existing_runs(runs), n_boot=n_boot, seed=seed, html=False)


@app.command("report")
def report_cmd(
    run_dir: Annotated[Path, typer.Argument(help="a run folder")],
    n_boot: Annotated[
        int, typer.Option(help="bootstrap resamples (if not analysed yet)", min=10)
    ] = 1000,
) -> None:
    """Write RUN/report.html: one self-contained page, works offline."""
    from vrprobe.report import write_report
    from vrprobe.report.gallery import task_image_loader

    (run_dir,) = _existing_runs([run_dir])
    path = write_report(run_dir, image_loader=task_image_loader(run_dir), n_boot=n_boot)
    console.print(f"report: [bold]{path}[/]")


@app.command()
def version() -> None:
    """Print the vrprobe version."""
    from vrprobe import __version__

    typer.echo(__version__)


if __name__ == "__main__":
    app()
