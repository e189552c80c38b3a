"""Tiny random-weight LLaVA-NeXT (CLIP + Llama, any-res tiles) with its processor built in code.

Tiles are ``image_size`` pixels a side (``(image_size // patch_size)²`` tokens each); the grid
pinpoints allow 1×2, 2×1 and 2×2 tiles, so wide, tall and square images take different paths.
"""

from __future__ import annotations

import copy

import torch
from transformers import (
    CLIPVisionConfig,
    LlamaConfig,
    LlavaNextConfig,
    LlavaNextForConditionalGeneration,
    LlavaNextProcessor,
)
from transformers.models.llava_next.image_processing_pil_llava_next import (
    LlavaNextImageProcessorPil,
)

from vrprobe.models.tiny import CHAT_TEMPLATE, byte_tokenizer


def tiny_llava_next(
    *,
    image_size: int = 32,
    patch_size: int = 8,
    hidden: int = 64,
    layers: int = 2,
    heads: int = 4,
    kv_heads: int = 2,
    vision_hidden: int = 32,
    vision_layers: int = 2,
    attn_implementation: str = "eager",
    seed: int = 0,
) -> tuple[LlavaNextForConditionalGeneration, LlavaNextProcessor]:
    """A random-weight LLaVA-NeXT and its processor.

    >>> model, processor = tiny_llava_next()
    >>> model.config.image_grid_pinpoints, processor.patch_size
    ([[32, 64], [64, 32], [64, 64]], 8)
    """
    tok = byte_tokenizer()
    tok.chat_template = CHAT_TEMPLATE
    s = image_size
    pinpoints = [[s, 2 * s], [2 * s, s], [2 * s, 2 * s]]
    image_processor = LlavaNextImageProcessorPil(
        size={"shortest_edge": s},
        crop_size={"height": s, "width": s},
        image_grid_pinpoints=pinpoints,
    )
    processor = LlavaNextProcessor(
        image_processor=image_processor,
        tokenizer=tok,
        patch_size=patch_size,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=CHAT_TEMPLATE,
    )
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
        max_position_embeddings=8192,
        **special,
    )
    vision = CLIPVisionConfig(
        hidden_size=vision_hidden,
        intermediate_size=4 * vision_hidden,
        num_hidden_layers=vision_layers,
        num_attention_heads=4,
        image_size=image_size,
        patch_size=patch_size,
        projection_dim=vision_hidden,
    )
    config = LlavaNextConfig(
        vision_config=vision,
        text_config=text,
        image_token_id=tok.image_token_id,
        image_grid_pinpoints=pinpoints,
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
        **special,
    )
    torch.manual_seed(seed)
    model = LlavaNextForConditionalGeneration(copy.deepcopy(config))
    model.set_attn_implementation(attn_implementation)
    gen = model.generation_config
    gen.pad_token_id, gen.eos_token_id, gen.bos_token_id = (special[k] for k in special)
    return model.eval(), processor
