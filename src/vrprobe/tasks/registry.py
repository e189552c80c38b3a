"""Resolve `--task`: a registered name (generated tasks) or a path to task files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from vrprobe.tasks.base import Task


class TaskNotFound(ValueError):
    """`--task` names neither a registered task nor a readable path."""


def _shapes(split: str) -> Task:
    from vrprobe.tasks.shapes import SPLIT_SEEDS, ShapesTask

    if split not in SPLIT_SEEDS:
        raise TaskNotFound(f"shapes has no split {split!r}; choose one of {sorted(SPLIT_SEEDS)}")
    return ShapesTask(split=split)


REGISTRY: dict[str, Callable[[str], Task]] = {"shapes": _shapes}


def resolve_task(spec: str, split: str = "test", data: str | None = None) -> Task:
    """A `Task` for a registry name, a benchmark name (with `data`: its local copy or hub id),
    a `.jsonl` manifest, or a saved `datasets` folder.

    >>> resolve_task("shapes").name
    'shapes'
    >>> resolve_task("shapes", data="x.json")
    Traceback (most recent call last):
    ...
    vrprobe.tasks.registry.TaskNotFound: --data: task 'shapes' is generated and reads no data
    """
    from vrprobe.tasks.benchmarks import BENCHMARKS
    from vrprobe.tasks.benchmarks.sources import DataNotFound

    if spec in REGISTRY:
        if data is not None:
            raise TaskNotFound(f"--data: task {spec!r} is generated and reads no data")
        return REGISTRY[spec](split)
    if spec in BENCHMARKS:
        from vrprobe.tasks.benchmarks.task import BenchmarkTask

        try:
            return BenchmarkTask(BENCHMARKS[spec], data, split)
        except DataNotFound as exc:
            raise TaskNotFound(str(exc)) from None
    if spec.endswith((".yaml", ".yml")) and Path(spec).expanduser().is_file():
        from vrprobe.tasks.benchmarks.task import BenchmarkTask
        from vrprobe.tasks.user_task import load_task_file

        if data is not None:
            raise TaskNotFound(f"--data: task file {spec} names its own data")
        try:
            bench, path = load_task_file(Path(spec).expanduser())
            return BenchmarkTask(bench, path, bench.split)
        except (ValueError, DataNotFound) as exc:
            raise TaskNotFound(str(exc)) from None
    if data is not None:
        raise TaskNotFound(
            f"--data: only benchmark tasks ({', '.join(sorted(BENCHMARKS))}) take --data; "
            f"--task {spec} already names its data"
        )
    from vrprobe.tasks.files import FileTask

    path = Path(spec).expanduser()
    if path.is_file():
        if path.suffix != ".jsonl":
            raise TaskNotFound(f"task file {path} must be a .jsonl manifest")
        return FileTask(path)
    if (path / "dataset_dict.json").is_file():
        if not (path / split / "state.json").is_file():
            raise TaskNotFound(f"{path} has no split {split!r} (pass --split)")
        return FileTask(path / split)
    if (path / "state.json").is_file():
        return FileTask(path)
    if path.is_dir():
        raise TaskNotFound(f"{path} is a folder but not one saved by datasets.save_to_disk")
    raise TaskNotFound(
        f"unknown task {spec!r}: use one of {sorted(REGISTRY) + sorted(BENCHMARKS)}, "
        "a .jsonl manifest, or a folder saved by datasets.save_to_disk"
    )
