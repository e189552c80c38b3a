"""Tiny random-weight PaliGemma with its processor built in code (FAMILIES.md sizes).

PaliGemma has no chat template: the processor writes ``<image> * N + <bos> + prompt + "\\n"``
and adds 1,152 ``<loc>``/``<seg>`` tokens to the tokenizer, so the vocabulary is sized after
the processor is built.
"""

from __future__ import annotations

import copy

import torch
from transformers import (
    Gemma2Config,
    GemmaConfig,
    PaliGemmaConfig,
    PaliGemmaForConditionalGeneration,
    PaliGemmaProcessor,
    SiglipVisionConfig,
)
from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

from vrprobe.models.tiny_vocab import special_byte_tokenizer


def tiny_paligemma(
    *,
    image_size: int = 32,
    patch_size: int = 8,
    hidden: int = 64,
    layers: int = 2,
    heads: int = 4,
    kv_heads: int = 2,
    vision_hidden: int = 32,
    vision_layers: int = 2,
    gemma2: bool = False,
    sliding_window: int = 8,
    attn_implementation: str = "eager",
    seed: int = 0,
) -> tuple[PaliGemmaForConditionalGeneration, PaliGemmaProcessor]:
    """A random-weight PaliGemma (Gemma decoder) and its processor; ``(image_size //
    patch_size)**2`` image tokens. ``gemma2=True`` builds PaliGemma 2 (Gemma 2 decoder: layer 0
    sliding with ``sliding_window`` keys, layer 1 full, soft-capped attention and final logits).

    >>> model, processor = tiny_paligemma()
    >>> processor.image_seq_length, model.config.text_config.vocab_size == len(processor.tokenizer)
    (16, True)
    """
    tok = special_byte_tokenizer(
        ("<pad>", "<bos>", "<eos>", "<image>"),
        pad="<pad>",
        bos="<bos>",
        eos="<eos>",
        named={"image_token": "<image>"},
    )
    n_tokens = (image_size // patch_size) ** 2
    image_processor = SiglipImageProcessorPil(size={"height": image_size, "width": image_size})
    image_processor.image_seq_length = n_tokens
    processor = PaliGemmaProcessor(image_processor=image_processor, tokenizer=tok)
    special = {
        "pad_token_id": tok.pad_token_id,
        "bos_token_id": tok.bos_token_id,
        "eos_token_id": tok.eos_token_id,
    }
    extra: dict = {}
    if gemma2:
        extra = {"sliding_window": sliding_window, "attn_logit_softcapping": 2.0,
                 "final_logit_softcapping": 5.0, "query_pre_attn_scalar": hidden // heads,
                 "layer_types": ["sliding_attention", "full_attention"][:layers]}  # fmt: skip
    text = (Gemma2Config if gemma2 else GemmaConfig)(
        vocab_size=len(tok),
        hidden_size=hidden,
        intermediate_size=4 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        head_dim=hidden // heads,
        max_position_embeddings=2048,
        **special,
        **extra,
    )
    vision = SiglipVisionConfig(
        hidden_size=vision_hidden,
        intermediate_size=4 * vision_hidden,
        num_hidden_layers=vision_layers,
        num_attention_heads=4,
        image_size=image_size,
        patch_size=patch_size,
        projection_dim=hidden,
    )
    config = PaliGemmaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=processor.image_token_id,
        projection_dim=hidden,
        hidden_size=hidden,
        **special,
    )
    config.vision_config.projection_dim = hidden
    torch.manual_seed(seed)
    model = PaliGemmaForConditionalGeneration(copy.deepcopy(config))
    model.set_attn_implementation(attn_implementation)
    gen = model.generation_config
    gen.pad_token_id, gen.eos_token_id, gen.bos_token_id = (special[k] for k in special)
    return model.eval(), processor
