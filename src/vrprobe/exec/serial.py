"""The serial executor for several runs (a sweep's cells): one process, one model at a time.

Cells that load the same model (same model, revision, dtype, device and attention
implementation) run one after another on one loaded copy; each cell is answered by
`runner.execute`, exactly as a single run is.
"""

from __future__ import annotations

from vrprobe.config import RunConfig
from vrprobe.models.loading import LoadedModel, load_model
from vrprobe.runner import ProgressFactory, RunPlan, execute
from vrprobe.summary import RunSummary

LoadKey = tuple[str, str, str, str, str]


def load_key(config: RunConfig) -> LoadKey:
    """The settings that decide which model object a config needs.

    >>> load_key(RunConfig()) == load_key(RunConfig(task="x.jsonl", seed=3, samples=5))
    True
    >>> load_key(RunConfig()) == load_key(RunConfig(dtype="bfloat16"))
    False
    """
    return (
        config.model,
        config.revision,
        config.dtype,
        config.device,
        config.attn_implementation,
    )


def load_for(config: RunConfig) -> LoadedModel:
    """Load the model a config asks for."""
    return load_model(
        config.model,
        revision=config.revision,
        dtype=config.dtype,
        device=config.device,
        attn_implementation=config.attn_implementation,
    )


def group_by_model(plans: list[RunPlan]) -> list[list[int]]:
    """Indices of `plans` grouped by load key, groups in order of first appearance."""
    groups: dict[LoadKey, list[int]] = {}
    for i, plan in enumerate(plans):
        groups.setdefault(load_key(plan.config), []).append(i)
    return list(groups.values())


def run_serial(plans: list[RunPlan], progress: ProgressFactory | None = None) -> list[RunSummary]:
    """Execute every plan, loading each model once; summaries in the order of `plans`."""
    summaries: dict[int, RunSummary] = {}
    for group in group_by_model(plans):
        loaded: LoadedModel | None = None
        for i in group:
            if plans[i].pending and loaded is None and len(group) > 1:
                loaded = load_for(plans[i].config)
            summaries[i] = execute(plans[i], progress, loaded=loaded)
        del loaded
    return [summaries[i] for i in range(len(plans))]
