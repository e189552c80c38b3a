"""Sweeps: models × tasks × seeds × K (× perturbations) expanded into one RunConfig per cell.

A sweep file (YAML) names the axes; every other top-level field is a `RunConfig` field applied
to every cell, and a model or task entry may be a mapping carrying its own `RunConfig` fields
(model entries win over task entries, which win over the top level):

    out: runs/my-sweep
    models: [demo, {model: llava-hf/llava-1.5-7b-hf, dtype: bfloat16, device: cuda}]
    tasks: [shapes, {task: data/pope.jsonl, limit: 500}]
    perturbations: [none]      # becomes RunConfig.perturb of every cell
    seeds: [0, 1]
    samples: 5                 # K; a list makes it an axis
    limit: 100
    max_new_tokens: 8

Each cell is an ordinary run folder `OUT/cells/<model>-<task>-<split>-seed<S>-k<K>-<fp>`, so
its item keys are those of the same run made alone, and `OUT/sweep.json` lists the cells.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import product
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from vrprobe.config import RunConfig, format_validation_error
from vrprobe.runner import RunPlan, plan_run
from vrprobe.store.run import write_json_atomic

SWEEP_MANIFEST = "sweep.json"
# Fields a sweep sets through its axes; they may not appear as plain top-level defaults.
AXIS_FIELDS = {"model": "models", "task": "tasks", "seed": "seeds", "perturb": "perturbations"}


class SweepError(ValueError):
    """The sweep file is invalid; the message names the field (one line per problem)."""


def _entry(value: Any, name: str) -> dict[str, Any]:
    """A model or task entry as a mapping of RunConfig fields."""
    if isinstance(value, str):
        return {name: value}
    if isinstance(value, dict) and isinstance(value.get(name), str):
        return dict(value)
    raise ValueError(f"each entry must be a string or a mapping with a {name!r} string")


class SweepConfig(BaseModel):
    """A sweep file, validated; unknown top-level fields go to `RunConfig` (which names them)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    models: list[dict[str, Any]] = Field(min_length=1)
    tasks: list[dict[str, Any]] = Field(default_factory=lambda: [{"task": "shapes"}], min_length=1)
    perturbations: list[Any] | None = Field(None, min_length=1)
    seeds: list[int] = Field([0], min_length=1)
    samples: list[int] = Field([0], min_length=1)
    out: Path | None = None

    @field_validator("models", mode="before")
    @classmethod
    def _models(cls, value: Any) -> Any:
        return [_entry(v, "model") for v in value] if isinstance(value, list) else value

    @field_validator("tasks", mode="before")
    @classmethod
    def _tasks(cls, value: Any) -> Any:
        return [_entry(v, "task") for v in value] if isinstance(value, list) else value

    @field_validator("seeds", "samples", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, int) else value

    @property
    def defaults(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


def _check(fields: dict[str, Any], where: str, errors: list[str], strip: str = "") -> None:
    """Validate `fields` as RunConfig fields; collect errors as `where` + the field path
    (with the `strip` prefix removed: `seed: ...` checked for `seeds.1` reads `seeds.1: ...`)."""
    try:
        RunConfig(**fields)
    except ValidationError as exc:
        for line in format_validation_error(exc).splitlines():
            errors.append(where + line.removeprefix(strip))


@dataclass(frozen=True)
class Cell:
    """One run of the sweep: its name (also its folder under OUT/cells) and its config."""

    name: str
    config: RunConfig


def cell_name(config: RunConfig) -> str:
    """`<model>-<task>-<split>-seed<S>-k<K>-<fingerprint>`, path-safe and unique per configuration.

    >>> cell_name(RunConfig(model="demo", task="shapes")).startswith("demo-shapes-test-seed0-k0-")
    True
    """
    model, task = Path(config.model).name, Path(config.task).stem
    base = f"{model}-{task}-{config.split}-seed{config.seed}-k{config.samples}"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", base) + "-" + config.fingerprint()[:8]


def expand(sweep: SweepConfig, out: Path) -> list[Cell]:
    """Every cell of the sweep (models × tasks × seeds × K), validated as RunConfigs.

    >>> cells = expand(SweepConfig(models=["demo"], seeds=[0, 1], limit=4), Path("o"))
    >>> [c.config.seed for c in cells], cells[0].config.limit, cells[0].config.out.parent
    ([0, 1], 4, PosixPath('o/cells'))
    """
    errors: list[str] = []
    defaults = sweep.defaults
    for name, axis in AXIS_FIELDS.items():
        if name in defaults:
            errors.append(f"{name}: set it through {axis!r} in a sweep file")
    _check({k: v for k, v in defaults.items() if k not in AXIS_FIELDS}, "", errors)
    for i, entry in enumerate(sweep.models):
        _check(entry, f"models.{i}.", errors)
    for i, entry in enumerate(sweep.tasks):
        _check(entry, f"tasks.{i}.", errors)
    for i, seed in enumerate(sweep.seeds):
        _check({"seed": seed}, f"seeds.{i}", errors, strip="seed")
    for i, k in enumerate(sweep.samples):
        _check({"samples": k}, f"samples.{i}", errors, strip="samples")
    perturb = {} if sweep.perturbations is None else {"perturb": tuple(sweep.perturbations)}
    _check(perturb, "perturbations", errors, strip="perturb")
    if errors:
        raise SweepError("\n".join(errors))
    cells: dict[str, Cell] = {}
    for task, model, seed, k in product(sweep.tasks, sweep.models, sweep.seeds, sweep.samples):
        fields = {**defaults, **task, **model, **perturb, "seed": seed, "samples": k}
        try:
            config = RunConfig(**fields)
        except ValidationError as exc:
            where = f"cell {model['model']} × {task['task']} (seed {seed}, K {k})"
            raise SweepError(f"{where}:\n" + format_validation_error(exc)) from None
        name = cell_name(config)
        if name in cells:
            raise SweepError(f"two cells are the same run ({name}): remove the repeated entry")
        cells[name] = Cell(name, config.model_copy(update={"out": out / "cells" / name}))
    return list(cells.values())


def load_sweep(path: Path) -> SweepConfig:
    """Read and validate a sweep YAML file; errors name the file and the field."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise SweepError(f"cannot read sweep file {path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise SweepError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise SweepError(f"{path}: a sweep file is a mapping (models:, tasks:, ...)")
    try:
        return SweepConfig(**data)
    except ValidationError as exc:
        raise SweepError(f"{path}:\n" + format_validation_error(exc)) from None


def default_sweep_out(path: Path) -> Path:
    """`runs/<sweep file stem>`: stable, so re-running the same file resumes it."""
    return Path("runs") / Path(path).stem


def sweep_manifest(sweep: SweepConfig, cells: list[Cell]) -> dict[str, Any]:
    """What OUT/sweep.json records: the sweep as given and each cell's folder and config."""
    return {
        "sweep": sweep.model_dump(mode="json"),
        "cells": [
            {
                "name": c.name,
                "folder": f"cells/{c.name}",
                "fingerprint": c.config.fingerprint(),
                "config": c.config.model_dump(mode="json", exclude={"out"}),
            }
            for c in cells
        ],
        "written": datetime.now(UTC).isoformat(),
    }


@dataclass
class SweepPlan:
    """A planned sweep: its folder, its cells and each cell's run plan (same order)."""

    out: Path
    cells: list[Cell]
    plans: list[RunPlan]


def plan_sweep(sweep: SweepConfig, out: Path, **overrides: Any) -> SweepPlan:
    """Expand, check every cell (tasks, model folders, run folders) and open the cells' run
    folders before any model loads; writes OUT/sweep.json. `overrides` (e.g.
    `retry_errors=True`) are set on every cell."""
    cells = [
        Cell(c.name, c.config.model_copy(update=overrides) if overrides else c.config)
        for c in expand(sweep, out)
    ]
    plans = [plan_run(c.config) for c in cells]
    Path(out).mkdir(parents=True, exist_ok=True)
    write_json_atomic(Path(out) / SWEEP_MANIFEST, sweep_manifest(sweep, cells))
    return SweepPlan(Path(out), cells, plans)
