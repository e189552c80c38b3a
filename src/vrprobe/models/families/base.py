"""The adapter protocol: what vrprobe needs to know about one model family.

An adapter exposes *roles*, not module paths (TransformerLens' architecture adapters): the image
token id, the decoder's layers / final norm / LM head (``roles``), how a question becomes a
prompt, how the processor is built when ``AutoProcessor`` cannot (no torchvision), any extra
inputs ``generate`` needs, and the ``ImageLayout`` of a prepared prompt. Everything a family
does differently lives in its subclass; the rest of the code asks the adapter.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from vrprobe.models.layout import ImageLayout
from vrprobe.models.roles import ModelRoles, model_roles

PLAIN_PROMPT = "USER: <image>\n{question} ASSISTANT:"

# What a family supports; `vrprobe ls models` prints these per family.
CAPABILITIES = ("capture", "sampling", "evidence", "highlight", "mask-top", "ablation")


class FamilyAdapter:
    """Default behaviour (LLaVA-like); families override what differs.

    ``model_types`` are the ``config.model_type`` values the adapter serves. ``supports`` lists
    the capabilities (see ``CAPABILITIES``) that are implemented and tested for the family.
    """

    name: ClassVar[str] = "base"
    model_types: ClassVar[tuple[str, ...]] = ()
    supports: ClassVar[frozenset[str]] = frozenset(CAPABILITIES)
    notes: ClassVar[str] = ""
    # The whole prompt is one bidirectional prefix (PaliGemma): see capture.prefill.prefill.
    bidirectional_prompt: ClassVar[bool] = False
    # Added to mask-derived position ids, as the family's generate does (PaliGemma: 1).
    position_offset: ClassVar[int] = 0

    def image_token_id(self, config: Any) -> int:
        """``config.image_token_id`` is right for every family (FAMILIES.md)."""
        return int(config.image_token_id)

    def roles(self, model: Any) -> ModelRoles:
        return model_roles(model)

    def prompt(self, processor: Any, question: str) -> str:
        """The processor's chat template with one image then the question; LLaVA's plain
        prompt when there is no template."""
        template = getattr(processor, "chat_template", None)
        if template:
            messages = [
                {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}
            ]
            return processor.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=False
            )
        return PLAIN_PROMPT.format(question=question)

    def image_token(self, processor: Any) -> str:
        """The placeholder string of the image in the prompt text (locates the question)."""
        return str(getattr(processor, "image_token", "<image>"))

    def load_processor(self, source: str, **kwargs: Any) -> Any:
        """``AutoProcessor``; families whose processor needs torchvision override this."""
        from transformers import AutoProcessor

        return AutoProcessor.from_pretrained(source, **kwargs)

    def generate_inputs(self, inputs: dict) -> dict:
        """Model inputs as ``generate`` wants them (e.g. keep ``mm_token_type_ids``)."""
        return inputs

    def question_positions(
        self, processor: Any, prompt: str, question: str, offsets: np.ndarray, image_pos: np.ndarray
    ) -> np.ndarray:
        """Token positions of the question in the processor's expanded prompt (``offsets``).

        The processor replaces the image placeholder by image tokens followed by
        ``text_after_image``; the question is found on the prompt with that text inserted.
        """
        from vrprobe.models.prepare import question_positions

        token = self.image_token(processor)
        after = self.text_after_image(processor)
        if after and token in prompt:
            end = prompt.rfind(token) + len(token)
            prompt = prompt[:end] + after + prompt[end:]
        return question_positions(prompt, question, token, offsets, image_pos)

    def text_after_image(self, processor: Any) -> str:
        """What the processor writes between the last image token and the text that followed
        the placeholder (e.g. an end-of-image token)."""
        return ""

    def layout(
        self,
        input_ids: np.ndarray,
        processor: Any,
        config: Any,
        image_size_wh: tuple[int, int],
        inputs: dict,
    ) -> ImageLayout:
        """Every image token's sequence position, tile and cell, and the box projection."""
        raise NotImplementedError(f"{type(self).__name__} has no image layout")
