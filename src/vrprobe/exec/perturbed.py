"""Apply one work item's perturbation: the image and question to answer, a context manager
for perturbations that act inside the model, and the record columns that describe it.

``none``/``blur-kN``/``blank`` change the image only. ``mask-top-*`` first answer the clean
input once (the model's own unperturbed pass) to rank image tokens by attention; ``highlight*``
read the clean pass's last-prompt-token rows on the profiled layers (``perturb.profile``).
Columns: ``perturb_resolution`` ([w, h] the image operation ran at), ``perturb_tokens``
(image-token indices removed by a mask), ``highlight_layers`` (the layers whose rows made the
evidence map), ``question_asked`` (the question with the instruction clause, when added).
docs/perturbations.md.
"""

from __future__ import annotations

import contextlib
import hashlib
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image

from vrprobe.capture.engine import CaptureRequest, CaptureResult, generate_with_capture
from vrprobe.config import RunConfig
from vrprobe.models.loading import LoadedModel
from vrprobe.models.prepare import Prepared, prepare
from vrprobe.perturb import blur, highlight, masking, profile
from vrprobe.perturb.registry import blur_kernel, family
from vrprobe.tasks.base import Sample

# Every record carries these columns (null when the perturbation does not set them), so shards
# of perturbed and clean items share one schema.
PERTURB_COLUMNS = ("perturb_resolution", "perturb_tokens", "highlight_layers", "question_asked")
_CLEAN: dict[int, tuple] = {}  # max_new_tokens -> (key, model ref, prepared, clean pass)
ModelContext = Callable[[Any, Prepared], contextlib.AbstractContextManager]


def _no_context(model: Any, prep: Prepared) -> contextlib.AbstractContextManager:
    return contextlib.nullcontext()


@dataclass
class Perturbed:
    """What to answer for one item, and how the model is changed while it answers."""

    image: Image.Image
    question: str
    columns: dict[str, Any] = field(default_factory=dict)
    model_context: ModelContext = _no_context


def fill_colour(processor: Any) -> tuple[int, int, int]:
    """The RGB colour that normalises to zero input (the processor's ``image_mean``), else grey.

    >>> class P: image_processor = type("I", (), {"image_mean": [0.5, 0.25, 1.0]})()
    >>> fill_colour(P()), fill_colour(object())
    ((128, 64, 255), (128, 128, 128))
    """
    mean = getattr(getattr(processor, "image_processor", None), "image_mean", None)
    if mean is None or len(mean) != 3:
        return (128, 128, 128)
    return tuple(round(255 * float(m)) for m in mean)  # type: ignore[return-value]


def perturb(
    loaded: LoadedModel, name: str, sample: Sample, image: Image.Image, config: RunConfig
) -> Perturbed:
    """The perturbed input of ``name`` for ``sample`` (whose image is ``image``)."""
    kind = family(name)
    if kind == "none":
        return Perturbed(image, sample.question)
    if kind == "blur":
        out = blur.blur_image(image, int(blur_kernel(name)))  # type: ignore[arg-type]
        return Perturbed(out, sample.question, {"perturb_resolution": list(out.size)})
    if kind == "blank":
        blank = blur.blank_image(image, fill_colour(loaded.processor))
        return Perturbed(blank, sample.question, {"perturb_resolution": list(image.size)})
    if kind == "mask":
        return _mask_top(loaded, name.removeprefix("mask-top-"), sample, image, config)
    if kind == "highlight":
        return _highlight(loaded, name, sample, image, config)
    raise NotImplementedError(f"perturbation {name!r} is not implemented")


def _clean(
    loaded: LoadedModel, sample: Sample, image: Image.Image, max_new_tokens: int
) -> tuple[Prepared, CaptureResult]:
    """The clean input and pass, cached for the last sample: the perturbations of one sample
    run in a row (mask mechanisms, highlight variants) and share one clean pass."""
    digest = hashlib.blake2b(image.tobytes(), digest_size=16).hexdigest()
    key = (digest, image.size, sample.question)
    hit = _CLEAN.get(max_new_tokens)
    if hit is None or hit[0] != key or hit[1]() is not loaded:  # weakref: never another model
        prep = prepare(loaded, image, sample.question)
        clean = clean_pass(loaded, prep, max_new_tokens)
        hit = _CLEAN[max_new_tokens] = (key, weakref.ref(loaded), prep, clean)
    return hit[2], hit[3]


def _highlight(
    loaded: LoadedModel, name: str, sample: Sample, image: Image.Image, config: RunConfig
) -> Perturbed:
    """The VEA highlight of SPEC §3, or one of its ablations / the instruction-only prompt."""
    with_clause = f"{sample.question.rstrip()} {highlight.INSTRUCTION}"
    if name == "highlight-instruction-only":
        return Perturbed(image, with_clause, {"question_asked": with_clause})
    n_layers = len(loaded.model.get_decoder().layers)
    if name == "highlight-all-layers":
        layers = list(range(n_layers))
    else:
        layers = list(profile.highlight_profile(loaded, config)["layers"])
    prep, clean = _clean(loaded, sample, image, 1)  # only the last prompt token's rows
    grid = highlight.evidence_grid(clean.image_attention[0], layers, prep.layout)
    out = highlight.highlight_image(
        image,
        grid,
        prep.layout.tiles[0],
        lam=None if name == "highlight-no-denoise" else highlight.LAMBDA,
        sigma=None if name == "highlight-no-smooth" else highlight.SIGMA,
    )
    question = sample.question if name == "highlight-no-prompt" else with_clause
    cols = {"highlight_layers": layers, "perturb_resolution": list(image.size)}
    if question != sample.question:
        cols["question_asked"] = question
    return Perturbed(out, question, cols)


def clean_pass(loaded: LoadedModel, prep: Prepared, max_new_tokens: int) -> CaptureResult:
    """The model's own unperturbed greedy answer with attention capture (no hidden taps)."""
    request = CaptureRequest(prep.layout.positions, prep.sections, hidden=False)
    with torch.inference_mode():
        return generate_with_capture(
            loaded.model, prep.inputs, request, max_new_tokens=max_new_tokens, do_sample=False
        )


def _mask_top(
    loaded: LoadedModel, mechanism: str, sample: Sample, image: Image.Image, config: RunConfig
) -> Perturbed:
    """Rank image tokens on the clean pass, remove the top 30% by ``mechanism``."""
    prep, clean = _clean(loaded, sample, image, config.max_new_tokens)
    scores = clean.image_attention.astype(np.float64).mean(axis=(0, 1))  # steps, layers
    tokens = masking.top_tokens(scores)
    cols: dict[str, Any] = {"perturb_tokens": tokens.tolist()}
    if mechanism == "pixels":
        boxes = masking.token_boxes(prep.layout, tokens)
        masked = masking.mask_pixels(image, boxes, fill_colour(loaded.processor))
        return Perturbed(masked, sample.question, {**cols, "perturb_resolution": list(image.size)})

    def context(model: Any, answered: Prepared) -> contextlib.AbstractContextManager:
        positions = answered.layout.positions[tokens]
        if mechanism == "embed":
            return masking.zero_embeddings(model, positions)
        return masking.block_keys(model, positions)

    return Perturbed(image, sample.question, cols, context)
