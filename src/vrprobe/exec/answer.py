"""Turn one work item into one record: prepare inputs, generate with capture, score, measure.

The greedy answer is generated once with the capture engine on (attention rows, hidden taps,
token entropies in the same pass). With `--samples K`, the prompt is prefilled once and both
the greedy answer and the K samples continue from that cache. Any failure becomes an error
record that names the item and the problem; the caller keeps going. Columns: docs/records.md.
"""

from __future__ import annotations

import time
import traceback
from typing import Any

import numpy as np
import torch

from vrprobe.capture.engine import CaptureRequest, CaptureResult, generate_with_capture
from vrprobe.capture.logit_lens import truth_margin
from vrprobe.capture.prefill import SEQUENCE_KEYS, prefill, repeat_cache
from vrprobe.capture.sampling import sample_continuations
from vrprobe.config import RunConfig
from vrprobe.exec import measure
from vrprobe.exec.items import WorkItem, item_seed
from vrprobe.exec.perturbed import PERTURB_COLUMNS, perturb
from vrprobe.models.loading import LoadedModel
from vrprobe.models.prepare import Prepared, prepare
from vrprobe.signals.consistency import consistency_signals
from vrprobe.tasks.base import Sample, SampleError
from vrprobe.tasks.scoring import extract_answer, score_sample


def base_record(item: WorkItem) -> dict[str, Any]:
    """The columns every record has, error or not."""
    rec: dict[str, Any] = {
        "item_key": item.key,
        "sample_id": item.sample_id,
        "task": item.task,
        "perturbation": item.perturbation,
        "error": None,
    }
    if isinstance(item.sample, Sample):
        s = item.sample
        rec.update(
            question=s.question,
            answers=list(s.answers),
            question_type=s.question_type,
            task_type=s.task_type,
            answer_kind=s.answer_kind,
            evidence_boxes=[list(b) for b in s.evidence_boxes],
        )
    return rec


def error_record(item: WorkItem, message: str) -> dict[str, Any]:
    return {**base_record(item), "prediction": None, "correct": None, "error": message}


def _greedy(loaded: LoadedModel, prep: Prepared, config: RunConfig, cache: Any) -> CaptureResult:
    request = CaptureRequest(
        image_positions=prep.layout.positions,
        sections=prep.sections,
        hidden="hidden" in config.signals,
    )
    inputs = prep.inputs
    kwargs: dict[str, Any] = {"do_sample": False}
    if cache is not None:
        inputs = {k: v for k, v in inputs.items() if k in SEQUENCE_KEYS or k == "attention_mask"}
        kwargs["past_key_values"] = repeat_cache(cache, 1)
    return generate_with_capture(
        loaded.model, inputs, request, max_new_tokens=config.max_new_tokens, **kwargs
    )


def _samples(
    loaded: LoadedModel, prep: Prepared, config: RunConfig, cache: Any, seed: int
) -> list[str]:
    tokens = sample_continuations(
        loaded.model,
        prep.inputs,
        cache,
        k=config.samples,
        temperature=config.temperature,
        top_p=config.top_p,
        max_new_tokens=config.max_new_tokens,
        seed=seed,
    )
    return [loaded.decode(t) for t in tokens]


def _consistency(sample: Sample, replies: list[str]) -> dict[str, Any]:
    kind, choices = sample.answer_kind, list(sample.choices)
    normalised = [extract_answer(r, kind, choices) or "" for r in replies]
    cols: dict[str, Any] = consistency_signals(normalised)
    cols["sc_answers"] = replies
    majority = cols["sc_majority"]
    cols["sc_majority_correct"] = bool(majority and score_sample(sample, majority).correct)
    return cols


def _truth_margin(loaded: LoadedModel, sample: Sample, hidden: np.ndarray) -> np.ndarray | None:
    """Logit-lens margin per layer at the last prompt token for the first reference's first
    token (as the tokenizer splits the bare answer); None when it has no tokens."""
    ids = loaded.processor.tokenizer(sample.answers[0], add_special_tokens=False)["input_ids"]
    if not ids:
        return None
    with torch.inference_mode():
        return truth_margin(loaded.model, hidden, ids[0])


def context_limit(loaded: LoadedModel) -> int | None:
    """The language model's context length (``max_position_embeddings``), None if unknown."""
    config = loaded.model.config
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    limit = getattr(text, "max_position_embeddings", None)
    return limit if isinstance(limit, int) else None


def check_context(prompt_len: int, max_new_tokens: int, limit: int | None) -> None:
    """Refuse (as a `SampleError`) a prompt that does not fit the model's context ``limit``
    (:func:`context_limit`) with the generation budget: a too-long question is an error
    record, never silently truncated."""
    if limit is not None and prompt_len + max_new_tokens > limit:
        raise SampleError(
            "",
            f"prompt has {prompt_len} tokens; with --max-new-tokens {max_new_tokens} it exceeds "
            f"the model's context of {limit} tokens (questions are not truncated)",
        )


def answer_item(loaded: LoadedModel, item: WorkItem, config: RunConfig) -> dict[str, Any]:
    """Greedy answer (with capture) and optional samples for one item; never raises."""
    if isinstance(item.sample, SampleError):
        return error_record(item, item.sample.message)
    sample = item.sample
    start = time.perf_counter()
    seed = item_seed(item.key)
    try:
        image = sample.load_image()
        changed = perturb(loaded, item.perturbation, sample, image, config)
        prep = prepare(loaded, changed.image, changed.question)
        check_context(prep.prompt_len, config.max_new_tokens, context_limit(loaded))
        torch.manual_seed(seed)
        with torch.inference_mode(), changed.model_context(loaded.model, prep):
            options = {
                "bidirectional_prompt": loaded.adapter.bidirectional_prompt,
                "position_offset": loaded.adapter.position_offset,
            }
            cache = prefill(loaded.model, prep.inputs, **options) if config.samples else None
            result = _greedy(loaded, prep, config, cache)
            replies = _samples(loaded, prep, config, cache, seed) if cache is not None else []
        text, offsets = measure.token_offsets(loaded.processor.tokenizer, result.new_tokens)
        prediction = text.strip()
        verdict = score_sample(sample, prediction)
        cols = _measure_all(
            sample, prep, result, text, offsets, bool(verdict.correct), config.signals
        )
        if replies:
            cols.update(_consistency(sample, replies))
        if result.hidden_prompt is not None:
            cols["layer_truth_margin"] = _truth_margin(loaded, sample, result.hidden_prompt)
    except SampleError as exc:
        return error_record(item, exc.message)
    except Exception as exc:  # a model-side failure on one item must not end the run
        detail = traceback.format_exception_only(exc)[-1].strip()
        return error_record(item, f"{type(exc).__name__} while answering: {detail}")
    return {
        **base_record(item),
        "prediction": prediction,
        "extracted": verdict.extracted,
        "correct": bool(verdict.correct),
        "f1": verdict.f1,
        "n_new_tokens": len(result.new_tokens),
        "image_width": image.width,
        "image_height": image.height,
        **dict.fromkeys(PERTURB_COLUMNS),
        **changed.columns,
        **cols,
        "elapsed_s": time.perf_counter() - start,
    }


def _measure_all(
    sample: Sample,
    prep: Prepared,
    result: CaptureResult,
    text: str,
    offsets: np.ndarray,
    correct: bool,
    groups: tuple[str, ...],
) -> dict[str, Any]:
    """The record columns of the selected signal groups."""
    cols: dict[str, Any] = {}
    step_ids = measure.reasoning_steps(text, offsets)
    if "spatial" in groups:
        cols.update(measure.spatial_columns(result, prep.layout))
    if "grounding" in groups:
        sizes = {name: len(pos) for name, pos in prep.sections.items()}
        cols.update(measure.visual_columns(result, prep.prompt_len, sizes))
    if "uncertainty" in groups:
        cols.update(measure.uncertainty_columns(result, text, offsets, step_ids))
    if "hidden" in groups:
        cols.update(hidden_prompt=result.hidden_prompt, hidden_last=result.hidden_last)
    ev = measure.evidence_cells(prep.layout, sample.evidence_boxes)
    if "evidence" in groups and len(ev):
        cols.update(measure.evidence_columns(result, ev, prep.prompt_len, correct, step_ids))
    return cols
