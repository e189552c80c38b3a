"""Execute an intervention plan: load the model once, answer every pending (sample, setting).

Each item is answered greedily (``generate``, ``do_sample=False``, the run's generation budget)
inside its setting's context manager and scored with the task's scorer, like a normal record;
any failure on one item becomes an error record and the sweep goes on. Items run sample by
sample, so one sample's prepared input and counterfactual recording serve all its settings.
Record columns: the normal ``base_record`` ones (``perturbation`` = the setting), prediction,
extracted, correct, f1, n_new_tokens, and ``kind setting layer rank seed k fraction head start
stop source positions dims`` (null where a kind does not set them). docs/interventions.md.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch

from vrprobe.exec.answer import base_record, check_context, error_record
from vrprobe.exec.items import WorkItem
from vrprobe.exec.perturbed import fill_colour
from vrprobe.interventions import ablate, patching, swap
from vrprobe.interventions.plan import Plan
from vrprobe.interventions.ranking import DimsChoice, clean_hidden, fit_weights
from vrprobe.interventions.settings import PARAMETERS, SettingError, parse_setting
from vrprobe.models.loading import LoadedModel, load_model
from vrprobe.models.prepare import Prepared, prepare
from vrprobe.models.roles import model_roles
from vrprobe.perturb.blur import blank_image, blur_image
from vrprobe.perturb.registry import blur_kernel
from vrprobe.store.shards import read_shards
from vrprobe.tasks.base import Sample, SampleError
from vrprobe.tasks.scoring import score_sample

COLUMNS = ("kind", "setting", *PARAMETERS, "fraction", "dims")
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


class _SampleCache:
    """The current sample's prepared input and counterfactual layer inputs."""

    def __init__(self) -> None:
        self.sid: str | None = None
        self.image: Any = None
        self.prep: Prepared | None = None
        self.recorded: dict[str, dict[int, torch.Tensor]] = {}

    def get(self, loaded: LoadedModel, sample: Sample) -> Prepared:
        if sample.id != self.sid:
            self.sid, self.recorded = None, {}
            self.image = sample.load_image()  # a SampleError leaves the cache empty
            self.prep = prepare(loaded, self.image, sample.question)
            self.sid = sample.id
        return self.prep  # type: ignore[return-value]

    def counterfactual(self, loaded: LoadedModel, sample: Sample, source: str) -> dict:
        if source not in self.recorded:
            k = blur_kernel(source)
            image = (
                blank_image(self.image, fill_colour(loaded.processor))
                if k is None
                else blur_image(self.image, k)
            )
            cf = prepare(loaded, image, sample.question)
            layers = range(model_roles(loaded.model).n_layers)
            self.recorded[source] = patching.record_inputs(loaded.model, cf.inputs, layers)
        return self.recorded[source]


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


def _context(
    loaded: LoadedModel,
    params: dict,
    prep: Prepared,
    cache: _SampleCache,
    sample: Sample,
    donor: Any,
    dims: list[int] | None,
) -> Any:
    model, kind = loaded.model, params["kind"]
    if kind == "dims":
        return ablate.zero_dims(model, params["layer"], dims or [])
    if kind == "heads":
        return ablate.ablate_heads(model, params["layer"], [params["head"]])
    if kind == "replace":
        return swap.replace_layers(model, donor, params["start"], params["stop"])
    recorded = cache.counterfactual(loaded, sample, params["source"])
    subset = {i: recorded[i] for i in range(params["start"], params["stop"])}
    positions = None
    if params["positions"] == "image":
        positions = torch.as_tensor(prep.layout.positions, device=model.device)
    return patching.patch_inputs(model, subset, positions)


def _dims(choice: DimsChoice | None, params: dict, width: int) -> list[int] | None:
    if params["kind"] != "dims":
        return None
    if params["rank"] == "top":
        return choice.top(params["k"])  # type: ignore[union-attr]
    return DimsChoice.random(params["k"], params["seed"], params["layer"], width)


def answer(
    loaded: LoadedModel, item: WorkItem, plan: Plan, cache: _SampleCache, donor: Any = None
) -> dict[str, Any]:
    """One (sample, setting) record; never raises."""
    params = parse_setting(item.perturbation)
    cols = {c: params.get(c) for c in COLUMNS}
    cols.update(setting=item.perturbation, fraction=None, dims=None)
    if params["k"] is not None:
        cols["fraction"] = params["k"] / plan.geometry.width
    if isinstance(item.sample, SampleError):
        return {**error_record(item, item.sample.message), **cols}
    sample, start = item.sample, time.perf_counter()
    try:
        prep = cache.get(loaded, sample)
        n_new = plan.config.max_new_tokens
        check_context(loaded, prep.prompt_len, n_new)
        dims = _dims(plan.dims, params, plan.geometry.width)
        cols["dims"] = dims
        ctx = _context(loaded, params, prep, cache, sample, donor, dims)
        with torch.inference_mode(), ctx:
            out = loaded.model.generate(**prep.inputs, do_sample=False, max_new_tokens=n_new)
        tokens = out[0, prep.prompt_len :]
        prediction = loaded.processor.tokenizer.decode(tokens, skip_special_tokens=True).strip()
        verdict = score_sample(sample, prediction)
    except SampleError as exc:
        return {**error_record(item, exc.message), **cols}
    except Exception as exc:  # one item's failure must not end the sweep
        detail = traceback.format_exception_only(exc)[-1].strip()
        msg = f"{type(exc).__name__} while answering under {item.perturbation}: {detail}"
        return {**error_record(item, msg), **cols}
    return {
        **base_record(item),
        "prediction": prediction,
        "extracted": verdict.extracted,
        "correct": bool(verdict.correct),
        "f1": verdict.f1,
        "n_new_tokens": len(tokens),
        **cols,
        "elapsed_s": time.perf_counter() - start,
    }


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
        cache = _SampleCache()
        items = progress(plan.pending, len(plan.pending)) if progress else plan.pending
        try:
            for item in items:
                plan.store.add(answer(loaded, item, plan, cache, donor))
        finally:
            plan.store.flush()
    elif plan.pending:  # only broken rows: error records, no model
        for item in plan.pending:
            plan.store.add(answer(None, item, plan, _SampleCache()))  # type: ignore[arg-type]
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
