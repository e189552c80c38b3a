"""Apply one work item's perturbation: the image and question to answer, a context manager
for perturbations that act inside the model, and the record columns that describe it.

``none``/``blur-kN``/``blank`` change the image only. ``mask-top-*`` first answer the clean
input once (the model's own unperturbed pass) to rank image tokens by attention; ``highlight*``
read the clean pass's last-prompt-token rows on the profiled layers (``perturb.profile``).
Columns: ``perturb_resolution`` ([w, h] the image operation ran at), ``perturb_tokens``
(image-token indices removed by a mask), ``highlight_layers``. docs/perturbations.md.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from vrprobe.config import RunConfig
from vrprobe.models.loading import LoadedModel
from vrprobe.models.prepare import Prepared
from vrprobe.perturb import blur
from vrprobe.perturb.registry import blur_kernel, family
from vrprobe.tasks.base import Sample

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
        blank = Image.new("RGB", image.size, fill_colour(loaded.processor))
        return Perturbed(blank, sample.question, {"perturb_resolution": list(image.size)})
    raise NotImplementedError(f"perturbation {name!r} is not implemented yet")
