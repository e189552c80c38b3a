"""Tiny random-weight Gemma 3 with its processor built in code (FAMILIES.md sizes).

Layer 0 is a sliding-window layer whose window (8 keys) is smaller than any prompt, layer 1
attends to everything; attention logits are soft-capped so the capture's soft-cap path runs.
The SigLIP tower sees ``image_size // patch_size`` patches a side, pooled to
``mm_tokens_per_image`` soft tokens.
"""

from __future__ import annotations

import copy

import torch
from transformers import (
    Gemma3Config,
    Gemma3ForConditionalGeneration,
    Gemma3Processor,
    Gemma3TextConfig,
    SiglipVisionConfig,
)
from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil

from vrprobe.models.tiny_vocab import special_byte_tokenizer

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<start_of_turn>{{ 'model' if m['role'] == "
    "'assistant' else m['role'] }}\n{% for c in m['content'] %}{% if c['type'] == 'image' %}"
    "<start_of_image>{% else %}{{ c['text'] }}{% endif %}{% endfor %}<end_of_turn>\n"
    "{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)
SPECIALS = ("<pad>", "<bos>", "<eos>", "<start_of_image>", "<end_of_image>", "<image_soft_token>",
            "<start_of_turn>", "<end_of_turn>")  # fmt: skip


def tiny_gemma3(
    *,
    image_size: int = 32,
    patch_size: int = 4,
    mm_tokens_per_image: int = 16,
    hidden: int = 64,
    heads: int = 4,
    kv_heads: int = 2,
    sliding_window: int = 8,
    attn_logit_softcapping: float | None = 2.0,
    vision_hidden: int = 32,
    vision_layers: int = 2,
    attn_implementation: str = "eager",
    seed: int = 0,
) -> tuple[Gemma3ForConditionalGeneration, Gemma3Processor]:
    """A random-weight Gemma 3 (one sliding, one full layer) and its processor.

    >>> model, processor = tiny_gemma3()
    >>> model.config.text_config.layer_types, processor.image_seq_length
    (['sliding_attention', 'full_attention'], 16)
    """
    tok = special_byte_tokenizer(
        SPECIALS,
        pad="<pad>",
        bos="<bos>",
        eos="<eos>",
        named={
            "image_token": "<image_soft_token>",
            "boi_token": "<start_of_image>",
            "eoi_token": "<end_of_image>",
        },
    )
    tok.chat_template = CHAT_TEMPLATE
    image_processor = Gemma3ImageProcessorPil(size={"height": image_size, "width": image_size})
    processor = Gemma3Processor(
        image_processor=image_processor,
        tokenizer=tok,
        chat_template=CHAT_TEMPLATE,
        image_seq_length=mm_tokens_per_image,
    )
    ids = {name: tok.convert_tokens_to_ids(name) for name in SPECIALS}
    special = {"pad_token_id": ids["<pad>"], "bos_token_id": ids["<bos>"],
               "eos_token_id": [ids["<eos>"], ids["<end_of_turn>"]]}  # fmt: skip
    text = Gemma3TextConfig(
        vocab_size=len(tok),
        hidden_size=hidden,
        intermediate_size=4 * hidden,
        num_hidden_layers=2,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        head_dim=hidden // heads,
        query_pre_attn_scalar=hidden // heads,
        sliding_window=sliding_window,
        layer_types=["sliding_attention", "full_attention"],
        attn_logit_softcapping=attn_logit_softcapping,
        max_position_embeddings=2048,
        **special,
    )
    vision = SiglipVisionConfig(
        hidden_size=vision_hidden,
        intermediate_size=4 * vision_hidden,
        num_hidden_layers=vision_layers,
        num_attention_heads=4,
        image_size=image_size,
        patch_size=patch_size,
    )
    config = Gemma3Config(
        text_config=text,
        vision_config=vision,
        mm_tokens_per_image=mm_tokens_per_image,
        boi_token_index=ids["<start_of_image>"],
        eoi_token_index=ids["<end_of_image>"],
        image_token_index=ids["<image_soft_token>"],
        **special,
    )
    torch.manual_seed(seed)
    model = Gemma3ForConditionalGeneration(copy.deepcopy(config))
    model.set_attn_implementation(attn_implementation)
    gen = model.generation_config
    gen.pad_token_id, gen.bos_token_id = special["pad_token_id"], special["bos_token_id"]
    gen.eos_token_id = special["eos_token_id"]
    return model.eval(), processor
