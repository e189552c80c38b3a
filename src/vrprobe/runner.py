"""`vrprobe run`: task → work items → (skip done) → model → records → summary.

Everything that can be checked without the model (configuration, task path, model folder,
run-folder compatibility) is checked before the model loads. The model loads only when there
is work left to do.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from vrprobe.config import RunConfig
from vrprobe.exec.answer import answer_item
from vrprobe.exec.items import WorkItem, work_items
from vrprobe.models.loading import LoadedModel, load_model, model_revision
from vrprobe.perturb.registry import parameters as perturb_parameters
from vrprobe.provenance import environment
from vrprobe.store.run import RunStore
from vrprobe.summary import RunSummary, summarize
from vrprobe.tasks.base import SampleError
from vrprobe.tasks.registry import resolve_task

DEFAULT_LIMIT = {"shapes": 300}


def default_out(config: RunConfig) -> Path:
    """`runs/<timestamp>-<model>-<task>` with path-unsafe characters replaced."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    name = f"{stamp}-{Path(config.model).name}-{Path(config.task).stem}"
    return Path("runs") / re.sub(r"[^A-Za-z0-9._-]+", "_", name)


@dataclass
class RunPlan:
    """What a run will do: its folder, its items, which of them are already stored."""

    config: RunConfig
    out: Path
    store: RunStore
    items: list[WorkItem]
    pending: list[WorkItem] = field(default_factory=list)
    task: Any = None


def plan_run(config: RunConfig) -> RunPlan:
    """Validate, open (or resume) the run folder, list items and what is left to do."""
    task = resolve_task(config.task, config.split, config.data)
    revision = model_revision(config.model, config.revision)
    limit = config.limit or DEFAULT_LIMIT.get(config.task)
    fingerprint = config.fingerprint()
    out = config.out or default_out(config)
    manifest = {
        "config": config.model_dump(mode="json"),
        "fingerprint": fingerprint,
        "model_revision": revision,
        "task": task.name,
        "seed": config.seed,
        "attn_implementation": config.attn_implementation,
        "batch_size": config.batch_size,
        "perturbations": perturb_parameters(config.perturb),
        "environment": environment(),
    }
    store = RunStore.open(out, manifest, flush_every=config.flush_every)
    config = config.model_copy(update={"out": out})  # items find the run folder (highlight)
    items = work_items(  # one item per (sample, perturbation)
        task.name,
        task.samples(limit),
        config.perturb,
        model_revision=revision,
        seed=config.seed,
        sampled=config.samples,
        fingerprint=fingerprint,
    )
    done = store.done_keys()
    if config.retry_errors:
        done -= store.error_keys()
    pending = [it for it in items if it.key not in done]
    return RunPlan(config, out, store, items, pending, task=task)


ProgressFactory = Callable[[Iterable[WorkItem], int], Iterable[WorkItem]]


def execute(
    plan: RunPlan, progress: ProgressFactory | None = None, loaded: LoadedModel | None = None
) -> RunSummary:
    """Answer every pending item, storing records as they complete; then summarise.

    `loaded` reuses a model already loaded with this config's model settings (sweeps)."""
    config = plan.config
    if plan.pending:
        # rows that are already errors (bad input) need no model: a task with no valid row
        # ends with its error records and counts, without loading anything
        needs_model = any(not isinstance(it.sample, SampleError) for it in plan.pending)
        if loaded is None and needs_model:
            loaded = load_model(
                config.model,
                revision=config.revision,
                dtype=config.dtype,
                device=config.device,
                attn_implementation=config.attn_implementation,
            )
        iterator = progress(plan.pending, len(plan.pending)) if progress else plan.pending
        try:
            for item in iterator:
                plan.store.add(answer_item(loaded, item, config))
        finally:
            plan.store.flush()
    return finish_run(plan, computed=len(plan.pending))


def finish_run(plan: RunPlan, computed: int) -> RunSummary:
    """Summarise the run's stored records and write the summary into its manifest."""
    keys = {it.key for it in plan.items}
    records = plan.store.read()
    summary = summarize(records, keys, computed=computed)
    if hasattr(plan.task, "native_metrics"):  # a benchmark's own protocol (docs/tasks.md)
        rows = [r for r in records.to_pylist() if r["item_key"] in keys]
        summary.native_metrics = plan.task.native_metrics(rows, plan.config.limit)
    plan.store.update_manifest(summary=summary.as_dict())
    return summary
