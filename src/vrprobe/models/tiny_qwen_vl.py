"""Tiny random-weight Qwen-VL models (Qwen2-VL, Qwen2.5-VL, Qwen3-VL) with image-only processors.

Tokenizer: byte-level BPE plus Qwen's special tokens; chat template: Qwen's im_start / im_end
turns with ``<|vision_start|><|image_pad|><|vision_end|>`` for the image. Images are resized by
``smart_resize`` to multiples of ``patch_size * 2`` between ``min_pixels`` and ``max_pixels``.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from transformers import PreTrainedTokenizerFast
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

from vrprobe.models.families.mrope import image_only
from vrprobe.models.tiny_vocab import special_byte_tokenizer

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% else %}{{ c['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIALS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
MIN_PIXELS, MAX_PIXELS = 32 * 32, 64 * 64


def qwen_tokenizer() -> PreTrainedTokenizerFast:
    """Byte-level tokenizer with Qwen's special tokens as named attributes.

    >>> tok = qwen_tokenizer()
    >>> tok.image_token, tok.convert_tokens_to_ids("<|image_pad|>") == tok.image_token_id
    ('<|image_pad|>', True)
    """
    tok = special_byte_tokenizer(
        SPECIALS,
        pad="<|endoftext|>",
        bos="<|im_start|>",
        eos="<|im_end|>",
        named={
            "image_token": "<|image_pad|>",
            "video_token": "<|video_pad|>",
            "vision_start_token": "<|vision_start|>",
            "vision_end_token": "<|vision_end|>",
        },
    )
    tok.chat_template = CHAT_TEMPLATE
    return tok


def token_ids(tok: PreTrainedTokenizerFast) -> dict[str, int]:
    """Special ids every M-RoPE config takes (image, video, vision start / end, pad, bos, eos)."""
    ids = {
        f"{k}_token_id": tok.convert_tokens_to_ids(v)
        for k, v in (
            ("image", "<|image_pad|>"),
            ("video", "<|video_pad|>"),
            ("vision_start", "<|vision_start|>"),
            ("vision_end", "<|vision_end|>"),
        )
    }
    return ids


def text_special(tok: PreTrainedTokenizerFast) -> dict[str, int]:
    return {
        "pad_token_id": tok.pad_token_id,
        "bos_token_id": tok.bos_token_id,
        "eos_token_id": tok.eos_token_id,
    }


def text_kwargs(
    tok: PreTrainedTokenizerFast, hidden: int, layers: int, heads: int, kv_heads: int
) -> dict[str, Any]:
    """Decoder sizes (FAMILIES.md: hidden 64, 2 layers, 4 heads / 2 KV heads) and M-RoPE
    sections summing to half the head dimension."""
    half = hidden // heads // 2
    section = [half - 2 * (half // 3), half // 3, half // 3]
    return {
        "vocab_size": len(tok),
        "hidden_size": hidden,
        "intermediate_size": 4 * hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "max_position_embeddings": 4096,
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": 10000.0,
            "mrope_section": section,
        },
        **text_special(tok),
    }


def build(model_cls: type, config: Any, seed: int, attn_implementation: str, tok) -> Any:
    torch.manual_seed(seed)
    model = model_cls(copy.deepcopy(config))
    model.set_attn_implementation(attn_implementation)
    gen = model.generation_config
    gen.pad_token_id, gen.bos_token_id, gen.eos_token_id = (
        tok.pad_token_id,
        tok.bos_token_id,
        tok.eos_token_id,
    )
    return model.eval()


def qwen_processor(
    processor_cls: type, patch_size: int, image_processor_cls: type | None = None
) -> Any:
    """The image-only processor (``image_only(processor_cls)``) with a PIL image processor."""
    ip_cls = image_processor_cls or Qwen2VLImageProcessorPil
    ip = ip_cls(
        patch_size=patch_size,
        merge_size=2,
        temporal_patch_size=2,
        size={"shortest_edge": MIN_PIXELS, "longest_edge": MAX_PIXELS},
    )
    return image_only(processor_cls)(
        image_processor=ip, tokenizer=qwen_tokenizer(), chat_template=CHAT_TEMPLATE
    )


def tiny_qwen2_vl(
    *,
    patch_size: int = 4,
    hidden: int = 64,
    layers: int = 2,
    heads: int = 4,
    kv_heads: int = 2,
    vision_hidden: int = 32,
    vision_layers: int = 2,
    attn_implementation: str = "eager",
    seed: int = 0,
):
    """A random-weight Qwen2-VL and its image-only processor.

    >>> model, processor = tiny_qwen2_vl()
    >>> type(processor).__name__, model.config.vision_config.patch_size
    ('Qwen2VLImageOnlyProcessor', 4)
    """
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLProcessor

    processor = qwen_processor(Qwen2VLProcessor, patch_size)
    tok = processor.tokenizer
    config = Qwen2VLConfig(
        text_config=text_kwargs(tok, hidden, layers, heads, kv_heads),
        vision_config={
            "depth": vision_layers,
            "embed_dim": vision_hidden,
            "hidden_size": hidden,
            "num_heads": 4,
            "patch_size": patch_size,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        },
        **token_ids(tok),
        **text_special(tok),
    )
    return build(Qwen2VLForConditionalGeneration, config, seed, attn_implementation, tok), processor


def tiny_qwen2_5_vl(
    *,
    patch_size: int = 4,
    hidden: int = 64,
    layers: int = 2,
    heads: int = 4,
    kv_heads: int = 2,
    vision_hidden: int = 32,
    vision_layers: int = 2,
    attn_implementation: str = "eager",
    seed: int = 0,
):
    """A random-weight Qwen2.5-VL (windowed vision attention: window of 2 x 2 merged tokens,
    the last vision block full) and its image-only processor.

    >>> model, processor = tiny_qwen2_5_vl()
    >>> type(processor).__name__, model.config.vision_config.window_size
    ('Qwen2_5_VLImageOnlyProcessor', 16)
    """
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
    )

    processor = qwen_processor(Qwen2_5_VLProcessor, patch_size)
    tok = processor.tokenizer
    vision = {
        "depth": vision_layers,
        "hidden_size": vision_hidden,
        "intermediate_size": 4 * vision_hidden,
        "num_heads": 4,
        "patch_size": patch_size,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "window_size": 2 * 2 * patch_size,
        "out_hidden_size": hidden,
        "fullatt_block_indexes": [vision_layers - 1],
    }
    config = Qwen2_5_VLConfig(
        text_config=text_kwargs(tok, hidden, layers, heads, kv_heads),
        vision_config=vision,
        **token_ids(tok),
        **text_special(tok),
    )
    model_cls = Qwen2_5_VLForConditionalGeneration
    return build(model_cls, config, seed, attn_implementation, tok), processor


def tiny_qwen3_vl(
    *,
    patch_size: int = 8,
    hidden: int = 64,
    layers: int = 2,
    heads: int = 4,
    kv_heads: int = 2,
    vision_hidden: int = 32,
    vision_layers: int = 2,
    attn_implementation: str = "eager",
    seed: int = 0,
):
    """A random-weight Qwen3-VL (interleaved M-RoPE, deepstack from vision block 0, learned
    vision position embeddings on an 8 x 8 grid) and its image-only processor.

    >>> model, processor = tiny_qwen3_vl()
    >>> type(processor).__name__, model.config.vision_config.deepstack_visual_indexes
    ('Qwen3VLImageOnlyProcessor', [0])
    """
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration, Qwen3VLProcessor

    processor = qwen_processor(Qwen3VLProcessor, patch_size)
    tok = processor.tokenizer
    text = text_kwargs(tok, hidden, layers, heads, kv_heads)
    text["head_dim"] = hidden // heads
    text["rope_parameters"]["mrope_interleaved"] = True
    vision = {
        "depth": vision_layers,
        "hidden_size": vision_hidden,
        "intermediate_size": 4 * vision_hidden,
        "num_heads": 4,
        "patch_size": patch_size,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "out_hidden_size": hidden,
        "num_position_embeddings": 64,
        "deepstack_visual_indexes": [0],
    }
    config = Qwen3VLConfig(
        text_config=text, vision_config=vision, **token_ids(tok), **text_special(tok)
    )
    return build(Qwen3VLForConditionalGeneration, config, seed, attn_implementation, tok), processor
