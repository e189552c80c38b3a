"""Pick the executor for a list of run plans: `serial` (default) or `ray` (optional extra)."""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # the runner imports torch: keep option checks light
    from vrprobe.runner import ProgressFactory, RunPlan
    from vrprobe.summary import RunSummary

ExecutorName = Literal["serial", "ray"]


class ExecutorUnavailable(RuntimeError):
    """The chosen executor cannot run here (e.g. Ray is not installed)."""


def check_executor(name: str) -> None:
    """Fail early, before any planning or loading, on an unknown or uninstalled executor.

    >>> check_executor("serial")
    >>> check_executor("dask")
    Traceback (most recent call last):
    ...
    vrprobe.exec.dispatch.ExecutorUnavailable: executor: unknown executor 'dask' (serial | ray)
    """
    if name not in ("serial", "ray"):
        raise ExecutorUnavailable(f"executor: unknown executor {name!r} (serial | ray)")
    if name == "ray" and importlib.util.find_spec("ray") is None:
        raise ExecutorUnavailable("executor: --executor ray needs Ray: pip install 'vrprobe[ray]'")


def run_plans(
    plans: list[RunPlan],
    executor: str = "serial",
    progress: ProgressFactory | None = None,
    **ray_options: Any,
) -> list[RunSummary]:
    """Execute the plans and return their summaries (same order). `ray_options` go to
    `RayExecutor` (workers, address, gpus_per_worker, batch_size, max_attempts)."""
    check_executor(executor)
    if executor == "ray":
        from vrprobe.exec.ray import RayExecutor, run_ray

        return run_ray(plans, RayExecutor(**ray_options), progress)
    from vrprobe.exec.serial import run_serial

    return run_serial(plans, progress)
