"""`vrprobe check IMAGE QUESTION`: answer one question and judge the answer (live monitor)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from vrprobe.cli_console import fail

#: shipped calibration of the demo model (bench/monitor_calibration.py --write-default)
DEFAULT_DEMO_CALIBRATION = Path(__file__).resolve().parent / "assets" / "demo_monitor"


def _calibration_dir(calibration: Path | None, model: str) -> Path:
    if calibration is not None:
        return calibration
    if model == "demo":
        return DEFAULT_DEMO_CALIBRATION
    raise fail(
        f"--calibration DIR is needed for model {model!r} "
        "(make one with Monitor.calibrate(model, run).save(DIR))"
    )


def check(
    image: Annotated[Path, typer.Argument(help="the image file")],
    question: Annotated[str, typer.Argument(help="the question about the image")],
    calibration: Annotated[
        Path | None, typer.Option(help="calibration folder (default for demo: the shipped one)")
    ] = None,
    model: Annotated[str, typer.Option(help="'demo', a local model folder, or a hub id")] = "demo",
    task_type: Annotated[str, typer.Option(help="task type, e.g. visual | symbolic")] = "visual",
    samples: Annotated[int, typer.Option(help="K sampled answers (self-consistency)")] = 0,
    overlay: Annotated[
        Path | None, typer.Option(help="write the evidence overlay PNG here")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """Answer QUESTION about IMAGE; print the answer, its risk and the veto decision."""
    from vrprobe.models.loading import ModelLoadError, load_model
    from vrprobe.monitor import CalibrationNotFound, CheckInputError, Monitor, UnknownTaskType
    from vrprobe.monitor.files import load_calibration
    from vrprobe.monitor.monitor import check_inputs

    folder = _calibration_dir(calibration, model)
    try:
        cal = load_calibration(folder)  # read once: the inputs are checked before loading
        picture = check_inputs(cal, image, question, task_type, samples)
        monitor = Monitor(cal, load_model(model))
        # every raw signal in the JSON, the probe's too (a model load dwarfs its tap)
        result = monitor.check(picture, question, task_type, samples=samples, probe_signal=True)
    except (
        CalibrationNotFound,
        CheckInputError,
        UnknownTaskType,
        ModelLoadError,
        ValueError,
    ) as exc:
        raise fail(str(exc)) from None
    if overlay is not None:
        overlay.parent.mkdir(parents=True, exist_ok=True)
        result.overlay().save(overlay)
    if as_json:
        typer.echo(json.dumps({**result.summary(), "overlay": overlay and str(overlay)}))
        return
    typer.echo(f"answer: {result.answer}")
    typer.echo(
        f"risk:   {result.risk:.3f} (P(error); accept <= "
        f"{monitor.calibration.accept.get('risk_threshold', float('nan')):.3f}: "
        f"{'accepted' if result.accepted else 'rejected'})"
    )
    typer.echo(f"veto:   {'VETO' if result.veto.vetoed else 'no'} - {result.veto.reason}")
    if samples:
        typer.echo(f"self-consistency over K={result.samples}: {result.signals.get('sc_share')}")
    if overlay is not None:
        typer.echo(f"overlay: {overlay}")
