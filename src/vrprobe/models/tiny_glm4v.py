"""Tiny random-weight GLM-4.1V / 4.5V (MoE) / 4.6V models with image-only processors.

Tokenizer: byte-level BPE plus GLM's special tokens; chat template: GLM's ``<|user|>`` /
``<|assistant|>`` turns with ``<|begin_of_image|><|image|><|end_of_image|>`` for the image.
``size`` counts pixels of the two-frame temporal block, so the limits are twice Qwen's tiny ones
(the same images come out the same size).
"""

from __future__ import annotations

from typing import Any

from transformers import PreTrainedTokenizerFast

from vrprobe.models.families.mrope import image_only
from vrprobe.models.tiny_qwen_vl import build, text_special
from vrprobe.models.tiny_vocab import special_byte_tokenizer

CHAT_TEMPLATE = (
    "[gMASK]<sop>{% for m in messages %}<|{{ m['role'] }}|>\n{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<|begin_of_image|><|image|><|end_of_image|>"
    "{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
SPECIALS = (
    "<|endoftext|>",
    "[gMASK]",
    "<sop>",
    "<|user|>",
    "<|assistant|>",
    "<|system|>",
    "<|begin_of_image|>",
    "<|end_of_image|>",
    "<|image|>",
    "<|begin_of_video|>",
    "<|end_of_video|>",
    "<|video|>",
)
MIN_PIXELS, MAX_PIXELS = 2 * 32 * 32, 2 * 64 * 64


def glm_tokenizer() -> PreTrainedTokenizerFast:
    """Byte-level tokenizer with GLM's special tokens.

    >>> glm_tokenizer().image_token
    '<|image|>'
    """
    tok = special_byte_tokenizer(
        SPECIALS,
        pad="<|endoftext|>",
        bos="<sop>",
        eos="<|user|>",
        named={"image_token": "<|image|>", "video_token": "<|video|>"},
    )
    tok.chat_template = CHAT_TEMPLATE
    return tok


def glm_ids(tok: PreTrainedTokenizerFast) -> dict[str, int]:
    names = {
        "image": "<|image|>",
        "video": "<|video|>",
        "image_start": "<|begin_of_image|>",
        "image_end": "<|end_of_image|>",
        "video_start": "<|begin_of_video|>",
        "video_end": "<|end_of_video|>",
    }
    return {f"{k}_token_id": tok.convert_tokens_to_ids(v) for k, v in names.items()}


def glm_processor(processor_cls: type, image_processor_cls: type, patch_size: int) -> Any:
    ip = image_processor_cls(
        patch_size=patch_size,
        merge_size=2,
        temporal_patch_size=2,
        size={"shortest_edge": MIN_PIXELS, "longest_edge": MAX_PIXELS},
    )
    return image_only(processor_cls)(
        image_processor=ip, tokenizer=glm_tokenizer(), chat_template=CHAT_TEMPLATE
    )


def glm_text(tok, hidden: int, layers: int, heads: int, kv_heads: int) -> dict[str, Any]:
    """Decoder sizes; half-rotary M-RoPE (partial_rotary_factor 0.5, sections summing to a
    quarter of the head dimension), as the released GLM-4V checkpoints."""
    quarter = hidden // heads // 4
    section = [quarter - 2 * (quarter // 3), quarter // 3, quarter // 3]
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
            "partial_rotary_factor": 0.5,
        },
        **text_special(tok),
    }


def glm_vision(patch_size: int, vision_hidden: int, vision_layers: int, hidden: int) -> dict:
    return {
        "depth": vision_layers,
        "hidden_size": vision_hidden,
        "num_heads": 4,
        "image_size": 8 * patch_size,
        "patch_size": patch_size,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "out_hidden_size": hidden,
        "intermediate_size": 4 * hidden,
    }


def tiny_glm4v(
    *,
    variant: str = "glm4v",
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
    """A random-weight GLM-4V model and its image-only processor. ``variant``: ``"glm4v"``
    (GLM-4.1V), ``"glm4v_moe"`` (GLM-4.5V: MoE decoder, layer 0 dense, 4 experts, top 2) or
    ``"glm46v"`` (GLM-4.6V).

    >>> model, processor = tiny_glm4v(variant="glm4v_moe")
    >>> model.config.model_type, type(processor).__name__
    ('glm4v_moe', 'Glm4vImageOnlyProcessor')
    """
    import transformers as tf
    from transformers.models.glm4v.image_processing_pil_glm4v import Glm4vImageProcessorPil

    if variant not in ("glm4v", "glm4v_moe", "glm46v"):
        raise ValueError(f"variant must be glm4v, glm4v_moe or glm46v, got {variant!r}")
    if variant == "glm46v":
        from transformers.models.glm46v.image_processing_pil_glm46v import (
            Glm46VImageProcessorPil,
        )

        processor = glm_processor(tf.Glm46VProcessor, Glm46VImageProcessorPil, patch_size)
    else:
        processor = glm_processor(tf.Glm4vProcessor, Glm4vImageProcessorPil, patch_size)
    tok = processor.tokenizer
    text = glm_text(tok, hidden, layers, heads, kv_heads)
    vision = glm_vision(patch_size, vision_hidden, vision_layers, hidden)
    ids = {**glm_ids(tok), **text_special(tok)}
    if variant == "glm4v_moe":
        text.update(
            moe_intermediate_size=hidden,
            n_routed_experts=4,
            num_experts_per_tok=2,
            n_shared_experts=1,
            first_k_dense_replace=1,
            n_group=1,
            topk_group=1,
        )
        config = tf.Glm4vMoeConfig(text_config=text, vision_config=vision, **ids)
        model_cls = tf.Glm4vMoeForConditionalGeneration
    elif variant == "glm46v":
        text["model_type"] = "glm4v_text"
        vision["model_type"] = "glm4v_vision"
        config = tf.Glm46VConfig(text_config=text, vision_config=vision, **ids)
        model_cls = tf.Glm46VForConditionalGeneration
    else:
        config = tf.Glm4vConfig(text_config=text, vision_config=vision, **ids)
        model_cls = tf.Glm4vForConditionalGeneration
    return build(model_cls, config, seed, attn_implementation, tok), processor
