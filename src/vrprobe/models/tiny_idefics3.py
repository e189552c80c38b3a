"""Tiny random-weight Idefics3 / SmolVLM (Llama decoder) with processors built in code.

Tiles are ``tile`` pixels a side; images are first resized to a longest edge of
``longest_edge`` (so up to (longest_edge / tile)^2 crops plus the global image); the vision grid
``tile // patch_size`` is pixel-shuffled 2 x 2.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

import torch
from transformers import (
    Idefics3Config,
    Idefics3ForConditionalGeneration,
    Idefics3Processor,
    Idefics3VisionConfig,
    LlamaConfig,
    SmolVLMConfig,
    SmolVLMForConditionalGeneration,
    SmolVLMVisionConfig,
)
from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil
from transformers.models.smolvlm.image_processing_pil_smolvlm import SmolVLMImageProcessorPil

from vrprobe.models.families.idefics3 import SmolVLMImageProcessor
from vrprobe.models.tiny_vocab import special_byte_tokenizer

CHAT_TEMPLATE = (
    "<|im_start|>{% for m in messages %}{{ m['role'] | capitalize }}:"
    "{% for c in m['content'] %}{% if c['type'] == 'image' %}<image>{% else %} {{ c['text'] }}"
    "{% endif %}{% endfor %}<end_of_utterance>\n{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}"
)
ROW_COL = tuple(f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7))
SPECIALS = ("<pad>", "<|im_start|>", "<end_of_utterance>", "<image>", "<fake_token_around_image>",
            "<global-img>", *ROW_COL)  # fmt: skip
CLASSES: dict[str, tuple[Any, ...]] = {
    "idefics3": (Idefics3Config, Idefics3VisionConfig, Idefics3ForConditionalGeneration,
                 Idefics3ImageProcessorPil, Idefics3Processor),
    "smolvlm": (SmolVLMConfig, SmolVLMVisionConfig, SmolVLMForConditionalGeneration,
                SmolVLMImageProcessorPil, SmolVLMImageProcessor),
}  # fmt: skip


def tiny_idefics3(
    family: Literal["idefics3", "smolvlm"] = "idefics3",
    *,
    tile: int = 32,
    longest_edge: int = 64,
    patch_size: int = 4,
    hidden: int = 64,
    layers: int = 2,
    heads: int = 4,
    kv_heads: int = 2,
    vision_hidden: int = 32,
    vision_layers: int = 2,
    attn_implementation: str = "eager",
    seed: int = 0,
) -> tuple[Any, Any]:
    """A random-weight Idefics3 or SmolVLM and its (image-only for SmolVLM) processor.

    >>> model, processor = tiny_idefics3("smolvlm")
    >>> type(model).__name__, processor.image_seq_len
    ('SmolVLMForConditionalGeneration', 16)
    """
    config_cls, vision_cls, model_cls, ip_cls, proc_cls = CLASSES[family]
    tok = special_byte_tokenizer(
        SPECIALS,
        pad="<pad>",
        bos="<|im_start|>",
        eos="<end_of_utterance>",
        named={"image_token": "<image>"},
    )
    tok.chat_template = CHAT_TEMPLATE
    ip = ip_cls(
        size={"longest_edge": longest_edge},
        max_image_size={"longest_edge": tile},
        do_image_splitting=True,
    )
    seq = (tile // patch_size // 2) ** 2
    processor = proc_cls(ip, tok, image_seq_len=seq, chat_template=CHAT_TEMPLATE)
    special = {
        "pad_token_id": tok.pad_token_id,
        "bos_token_id": tok.bos_token_id,
        "eos_token_id": tok.eos_token_id,
    }
    text = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=hidden,
        intermediate_size=4 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=2048,
        **special,
    )
    vision = vision_cls(
        hidden_size=vision_hidden,
        intermediate_size=4 * vision_hidden,
        num_hidden_layers=vision_layers,
        num_attention_heads=4,
        image_size=tile,
        patch_size=patch_size,
    )
    config = config_cls(
        vision_config=vision,
        text_config=text,
        image_token_id=tok.convert_tokens_to_ids("<image>"),
        scale_factor=2,
        **special,
    )
    torch.manual_seed(seed)
    model = model_cls(copy.deepcopy(config))
    model.set_attn_implementation(attn_implementation)
    gen = model.generation_config
    gen.pad_token_id, gen.eos_token_id, gen.bos_token_id = (special[k] for k in special)
    return model.eval(), processor
