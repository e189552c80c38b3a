"""One intervention work item → one record: the setting's context manager, a greedy answer,
the task's scorer. Never raises: a failure is an error record naming the item and the setting.

Columns: the normal ``base_record`` ones (``perturbation`` = the setting), prediction,
extracted, correct, f1, n_new_tokens, elapsed_s, and ``kind setting layer rank seed k fraction
head start stop source positions dims`` (null where a kind does not set them).
docs/interventions.md.
"""

from __future__ import annotations

import time
import traceback
from typing import Any

import torch

from vrprobe.exec.answer import base_record, check_context, context_limit, error_record
from vrprobe.exec.items import WorkItem
from vrprobe.exec.perturbed import fill_colour
from vrprobe.interventions import ablate, patching, swap
from vrprobe.interventions.plan import Plan
from vrprobe.interventions.ranking import DimsChoice
from vrprobe.interventions.settings import PARAMETERS, parse_setting
from vrprobe.models.loading import LoadedModel
from vrprobe.models.prepare import Prepared, prepare
from vrprobe.models.roles import model_roles
from vrprobe.perturb.blur import blank_image, blur_image
from vrprobe.perturb.registry import blur_kernel
from vrprobe.tasks.base import Sample, SampleError
from vrprobe.tasks.scoring import score_sample

COLUMNS = ("kind", "setting", *PARAMETERS, "fraction", "dims")


class SampleCache:
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


def _context(
    loaded: LoadedModel,
    params: dict,
    prep: Prepared,
    cache: SampleCache,
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
    loaded: LoadedModel, item: WorkItem, plan: Plan, cache: SampleCache, donor: Any = None
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
        check_context(prep.prompt_len, n_new, context_limit(loaded))
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
