"""Model inputs for one (image, question) plus where everything sits in the sequence.

Besides the tensors, the capture engine needs the image layout (positions ↔ grid cells ↔
pixels) and the prompt's sections (image, question text, template/system tokens) as position
sets. The question is located through the tokenizer's character offsets, so no family's
template is hard-coded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from vrprobe.models.layout import ImageLayout
from vrprobe.models.loading import LoadedModel


@dataclass
class Prepared:
    inputs: dict
    layout: ImageLayout
    sections: dict[str, np.ndarray]

    @property
    def prompt_len(self) -> int:
        return int(self.inputs["input_ids"].shape[1])


def question_positions(
    prompt: str, question: str, image_token: str, offsets: np.ndarray, image_pos: np.ndarray
) -> np.ndarray:
    """Token positions whose characters fall inside the question text.

    Offsets index the processor's expanded prompt (the image placeholder repeated once per
    image token), so the question's span is shifted by that expansion when it follows the image.

    >>> offs = np.array([[0, 3], [3, 6], [6, 7], [7, 8], [8, 9]])  # "<i><i>hi?"
    >>> question_positions("<i>hi?", "hi?", "<i>", offs, np.array([0, 1])).tolist()
    [2, 3, 4]
    """
    q0 = prompt.rfind(question)
    if q0 < 0 or not len(image_pos):
        return np.array([], dtype=np.int64)
    p_img_end = prompt.find(image_token) + len(image_token)
    shift = int(offsets[image_pos[-1], 1]) - p_img_end if q0 >= p_img_end else 0
    a, b = q0 + shift, q0 + len(question) + shift
    inside = (offsets[:, 0] >= a) & (offsets[:, 1] <= b) & (offsets[:, 1] > offsets[:, 0])
    return np.flatnonzero(inside)


def prepare(loaded: LoadedModel, image: Image.Image, question: str) -> Prepared:
    """Tensors on the model's device, the family's image layout, and the prompt sections."""
    prompt = loaded.prompt(question)
    batch = loaded.processor(
        images=image, text=prompt, return_tensors="pt", return_offsets_mapping=True
    )
    offsets = batch.pop("offset_mapping")[0].numpy()
    adapter = loaded.adapter
    inputs = adapter.generate_inputs(loaded.to_device(dict(batch)))
    ids = inputs["input_ids"][0].cpu().numpy()
    layout = adapter.layout(ids, loaded.processor, loaded.model.config, image.size, inputs)
    image_pos = layout.positions
    q_pos = adapter.question_positions(loaded.processor, prompt, question, offsets, image_pos)
    rest = np.ones(len(ids), dtype=bool)
    rest[image_pos], rest[q_pos] = False, False
    rest = np.flatnonzero(rest)  # the rest of the prompt; a mask is ~10x cheaper than setdiff1d
    sections = {"image": image_pos, "question": q_pos, "template": rest}
    return Prepared(inputs, layout, {k: v for k, v in sections.items() if len(v)})
