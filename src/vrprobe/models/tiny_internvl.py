"""Tiny random-weight InternVL (Qwen2 decoder) with an image-only processor built in code.

Tiles are ``image_size`` pixels a side (up to ``max_patches`` of them plus a thumbnail); the
vision grid ``image_size // patch_size`` is pixel-shuffled 2 x 2 to ``image_seq_length`` tokens.
"""

from __future__ import annotations

import copy

import torch
from transformers import (
    InternVLConfig,
    InternVLForConditionalGeneration,
    InternVLVisionConfig,
    Qwen2Config,
)
from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil

from vrprobe.models.families.internvl import InternVLImageProcessor
from vrprobe.models.tiny_vocab import special_byte_tokenizer

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<IMG_CONTEXT>\n{% else %}{{ c['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% endif %}"
)
SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<img>", "</img>", "<IMG_CONTEXT>",
            "<video>")  # fmt: skip


def tiny_internvl(
    *,
    image_size: int = 32,
    patch_size: int = 4,
    max_patches: int = 4,
    hidden: int = 64,
    layers: int = 2,
    heads: int = 4,
    kv_heads: int = 2,
    vision_hidden: int = 32,
    vision_layers: int = 2,
    attn_implementation: str = "eager",
    seed: int = 0,
) -> tuple[InternVLForConditionalGeneration, InternVLImageProcessor]:
    """A random-weight InternVL and its image-only processor.

    >>> model, processor = tiny_internvl()
    >>> processor.image_seq_length, type(processor.image_processor).__name__
    (16, 'GotOcr2ImageProcessorPil')
    """
    tok = special_byte_tokenizer(
        SPECIALS,
        pad="<|endoftext|>",
        bos="<|im_start|>",
        eos="<|im_end|>",
        named={
            "start_image_token": "<img>",
            "end_image_token": "</img>",
            "context_image_token": "<IMG_CONTEXT>",
            "video_token": "<video>",
        },
    )
    tok.chat_template = CHAT_TEMPLATE
    ip = GotOcr2ImageProcessorPil(
        size={"height": image_size, "width": image_size},
        crop_to_patches=True,
        min_patches=1,
        max_patches=max_patches,
    )
    seq = (image_size // patch_size // 2) ** 2
    processor = InternVLImageProcessor(ip, tok, image_seq_length=seq, chat_template=CHAT_TEMPLATE)
    special = {
        "pad_token_id": tok.pad_token_id,
        "bos_token_id": tok.bos_token_id,
        "eos_token_id": tok.eos_token_id,
    }
    text = Qwen2Config(
        vocab_size=len(tok),
        hidden_size=hidden,
        intermediate_size=4 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=2048,
        **special,
    )
    vision = InternVLVisionConfig(
        hidden_size=vision_hidden,
        intermediate_size=4 * vision_hidden,
        num_hidden_layers=vision_layers,
        num_attention_heads=4,
        image_size=(image_size, image_size),
        patch_size=(patch_size, patch_size),
    )
    config = InternVLConfig(
        vision_config=vision,
        text_config=text,
        image_token_id=tok.convert_tokens_to_ids("<IMG_CONTEXT>"),
        downsample_ratio=0.5,
        **special,
    )
    torch.manual_seed(seed)
    model = InternVLForConditionalGeneration(copy.deepcopy(config))
    model.set_attn_implementation(attn_implementation)
    gen = model.generation_config
    gen.pad_token_id, gen.eos_token_id, gen.bos_token_id = (special[k] for k in special)
    return model.eval(), processor
