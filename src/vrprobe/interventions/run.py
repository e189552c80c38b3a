"""Execute an intervention plan: load the model once, answer every pending (sample, setting).

Each item is answered greedily (``generate``, ``do_sample=False``, the run's generation budget)
inside its setting's context manager and scored with the task's scorer (``answer``); any
failure on one item becomes an error record and the sweep goes on. Items run sample by sample,
so one sample's prepared input and counterfactual recording serve all its settings. A run that
stored no hidden states gets its dims ranking from states recomputed here (``layer_states``).
docs/interventions.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch

from vrprobe.exec.items import WorkItem
from vrprobe.interventions import swap
from vrprobe.interventions.answer import SampleCache, answer
from vrprobe.interventions.plan import Plan
from vrprobe.interventions.ranking import clean_hidden, fit_weights
from vrprobe.interventions.settings import SettingError, parse_setting
from vrprobe.models.loading import LoadedModel, load_model
from vrprobe.models.prepare import prepare
from vrprobe.models.roles import model_roles
from vrprobe.store.shards import read_shards
from vrprobe.tasks.base import SampleError

Progress = Callable[[Iterable[WorkItem], int], Iterable[WorkItem]]


def _load(plan: Plan, spec: str) -> LoadedModel:
    c = plan.config
    return load_model(
        spec,
        revision=c.revision,
        dtype=c.dtype,
        device=c.device,
        attn_implementation=c.attn_implementation,
    )


def layer_states(loaded: LoadedModel, plan: Plan, layer: int) -> tuple[np.ndarray, np.ndarray]:
    """Decoder layer ``layer``'s output at the last prompt token for every clean answered record
    of the run (for a run that stored no hidden states), with its correctness."""
    table = read_shards(plan.run_dir / "records", ["sample_id", "correct", "perturbation"])
    correct = {
        s: c
        for s, c, e, p in zip(
            *(
                table.column(n).to_pylist()
                for n in ("sample_id", "correct", "error", "perturbation")
            ),
            strict=True,
        )
        if c is not None and e is None and p in (None, "none")
    }
    module, kept = model_roles(loaded.model).layers[layer], []

    def hook(_m: Any, _a: Any, out: Any) -> None:
        kept.append((out[0] if isinstance(out, tuple) else out)[0, -1].float().cpu().numpy())

    states, labels = [], []
    handle = module.register_forward_hook(hook)
    try:
        for sample in plan.task.samples(plan.limit):
            if isinstance(sample, SampleError) or sample.id not in correct:
                continue
            prep = prepare(loaded, sample.load_image(), sample.question)
            with torch.inference_mode():
                loaded.model(**prep.inputs)
            states.append(kept.pop())
            labels.append(bool(correct[sample.id]))
    finally:
        handle.remove()
    return np.array(states), np.array(labels, bool)


def _prepare_dims(loaded: LoadedModel, plan: Plan) -> None:
    """Fit the ranking from recomputed states when the run stored none (see ``ranking``)."""
    choice = plan.dims
    needs = any(
        parse_setting(it.perturbation)["rank"] == "top" and parse_setting(it.perturbation)["k"]
        for it in plan.pending
    )
    if choice is None or choice.weights is not None or not needs:
        return
    if clean_hidden(plan.run_dir) is None:
        states, labels = layer_states(loaded, plan, choice.layer)
        fit_weights(choice, states, labels)
        plan.store.update_manifest(dims=choice.describe())


def execute(plan: Plan, progress: Progress | None = None) -> dict:
    """Answer the pending items (model and donor loaded once, only if there is work); return
    the summary (also written into the intervention manifest)."""
    if plan.pending and any(not isinstance(it.sample, SampleError) for it in plan.pending):
        loaded = _load(plan, plan.config.model)
        donor = None
        if plan.request.kind == "replace":
            donor = _load(plan, plan.request.donor).model  # type: ignore[arg-type]
            try:
                swap.check_swappable(loaded.model, donor, 0, plan.geometry.n_layers)
            except swap.LayerSwapError as exc:
                raise SettingError(f"--donor {plan.request.donor}: {exc}") from None
        _prepare_dims(loaded, plan)
        cache = SampleCache()
        items = progress(plan.pending, len(plan.pending)) if progress else plan.pending
        try:
            for item in items:
                plan.store.add(answer(loaded, item, plan, cache, donor))
        finally:
            plan.store.flush()
    elif plan.pending:  # only broken rows: error records, no model
        for item in plan.pending:
            plan.store.add(answer(None, item, plan, SampleCache()))  # type: ignore[arg-type]
        plan.store.flush()
    return summarize(plan, computed=len(plan.pending))


def summarize(plan: Plan, computed: int) -> dict:
    """Items, errors and accuracy per setting over this plan's items."""
    keys = {it.key for it in plan.items}
    rows = [r for r in plan.store.read().to_pylist() if r["item_key"] in keys]
    per: dict[str, list[bool]] = {}
    errors = []
    for r in rows:
        if r.get("error") is not None:
            errors.append(f"{r['sample_id']} / {r['perturbation']}: {r['error']}")
        elif r.get("correct") is not None:
            per.setdefault(r["perturbation"], []).append(bool(r["correct"]))
    summary = {
        "items": len(keys),
        "computed": computed,
        "errors": len(errors),
        "error_examples": errors[:5],
        "accuracy": {
            s: {"n": len(v), "accuracy": float(np.mean(v))}
            for s in plan.settings
            if (v := per.get(s))
        },
    }
    plan.store.update_manifest(summary=summary)
    return summary
