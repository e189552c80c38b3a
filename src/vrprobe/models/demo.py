"""The bundled demo VLM: a ~2M-parameter LLaVA (CLIP vision tower + Llama decoder) for `shapes`.

Everything that defines the model is built here in code, offline: a word-level tokenizer over
the shapes task's vocabulary (with an `<image>` special token), a `LlavaProcessor` with a chat
template, and the `LlavaConfig`. `scripts/train_demo.py` trains the weights and saves model and
processor into `DEMO_DIR`, from where the usual Auto classes load them:

    model = AutoModelForImageTextToText.from_pretrained(DEMO_DIR)
    processor = AutoProcessor.from_pretrained(DEMO_DIR)

The prompt is `<s>user : <image>×64 {question}` + newline + `assistant :`; the model answers with
one word and `</s>`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers
from transformers import (
    CLIPImageProcessorPil,
    CLIPVisionConfig,
    LlamaConfig,
    LlavaConfig,
    LlavaProcessor,
    PreTrainedTokenizerFast,
)

from vrprobe.tasks.shapes import vocabulary
from vrprobe.tasks.shapes_render import IMAGE_SIZE

DEMO_DIR: Path = Path(__file__).resolve().parent.parent / "assets" / "demo"

PATCH_SIZE = 8
NUM_IMAGE_TOKENS = (IMAGE_SIZE // PATCH_SIZE) ** 2  # 64
IMAGE_TOKEN = "<image>"
SPECIAL_TOKENS = ("<pad>", "<s>", "</s>", "<unk>", IMAGE_TOKEN)
PROMPT_WORDS = ("user", "assistant", ":")

# The answer of an assistant turn is followed by EOS; `add_generation_prompt` opens that turn.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}assistant :{% else %}user :{% endif %}"
    "{% if message['content'] is string %} {{ message['content'] }}"
    "{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %} <image>"
    "{% elif item['type'] == 'text' %} {{ item['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{% if message['role'] == 'assistant' %}{{ eos_token }}{% endif %}{{ '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}assistant :{% endif %}"
)


def build_demo_tokenizer() -> PreTrainedTokenizerFast:
    """A word-level fast tokenizer over the shapes vocabulary; lower-cases, splits punctuation.

    >>> tok = build_demo_tokenizer()
    >>> tok.convert_ids_to_tokens(tok("what colour is the circle?")["input_ids"])
    ['what', 'colour', 'is', 'the', 'circle', '?']
    >>> tok.decode(tok("<s>how many circles</s>")["input_ids"], skip_special_tokens=True)
    'how many circles'
    """
    words = [w for w in (*PROMPT_WORDS, *vocabulary()) if w not in SPECIAL_TOKENS]
    vocab = {tok: i for i, tok in enumerate(dict.fromkeys((*SPECIAL_TOKENS, *words)))}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.normalizer = normalizers.Lowercase()
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        extra_special_tokens={"image_token": IMAGE_TOKEN},
        padding_side="left",
        model_max_length=128,
    )
    return tokenizer


def build_demo_processor(tokenizer: PreTrainedTokenizerFast | None = None) -> LlavaProcessor:
    """The demo's `LlavaProcessor`: 64×64 CLIP-normalised pixels, 64 image tokens, chat template.

    >>> processor = build_demo_processor()
    >>> type(processor.image_processor).__name__, processor.image_token
    ('CLIPImageProcessorPil', '<image>')
    """
    tokenizer = tokenizer if tokenizer is not None else build_demo_tokenizer()
    image_processor = CLIPImageProcessorPil(
        size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
        crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
        do_center_crop=False,
        default_to_square=True,
    )
    return LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=PATCH_SIZE,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=CHAT_TEMPLATE,
    )


def build_demo_config(tokenizer: PreTrainedTokenizerFast) -> LlavaConfig:
    """The demo `LlavaConfig` (CLIP 64 px / patch 8, hidden 128 ×4 layers; Llama 128 ×4 layers).

    >>> config = build_demo_config(build_demo_tokenizer())
    >>> config.image_seq_length, config.text_config.num_hidden_layers, config.vision_feature_layer
    (64, 4, -1)
    """
    vision = CLIPVisionConfig(
        image_size=IMAGE_SIZE,
        patch_size=PATCH_SIZE,
        hidden_size=128,
        intermediate_size=512,
        num_hidden_layers=4,
        num_attention_heads=4,
        projection_dim=128,
        hidden_act="quick_gelu",
    )
    ids = {
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    text = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=128,
        intermediate_size=512,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=128,
        tie_word_embeddings=False,
        # Larger than the usual 0.02: at this width the decoder then learns word combinations
        # (the language prior, "is there a red square") several times faster from scratch.
        initializer_range=0.08,
        **ids,
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_id=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
        image_seq_length=NUM_IMAGE_TOKENS,
        projector_hidden_act="gelu",
        tie_word_embeddings=False,
    )
    for key, value in ids.items():
        setattr(config, key, value)
    return config


def demo_prompt(processor: LlavaProcessor, question: str) -> str:
    """The generation prompt for one image and `question`, through the chat template.

    >>> demo_prompt(build_demo_processor(), "what colour is the circle ?")
    '<s>user : <image> what colour is the circle ?\\nassistant :'
    """
    messages = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}
    ]
    return processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def normalize_answer(text: str) -> str:
    """Lower-case, drop punctuation and special tokens, collapse spaces.

    >>> normalize_answer(" Red </s>")
    'red'
    """
    text = re.sub(r"<[^>]*>", " ", text.lower())
    text = re.sub(r"[^\w\s]", " ", text)
    return " ".join(text.split())


def answer_questions(
    model, processor: LlavaProcessor, images: Sequence, questions: Sequence[str], batch_size=50
) -> list[str]:
    """Greedy one-word answers (normalised) of the demo model, batched with left padding.

    >>> answer_questions(None, build_demo_processor(), [], [])
    []
    """
    import torch

    answers: list[str] = []
    eos = processor.tokenizer.eos_token_id
    for start in range(0, len(questions), batch_size):
        prompts = [demo_prompt(processor, q) for q in questions[start : start + batch_size]]
        inputs = processor(
            images=list(images[start : start + batch_size]),
            text=prompts,
            return_tensors="pt",
            padding=True,
        )
        with torch.no_grad():
            out = model.generate(
                **inputs, max_new_tokens=3, do_sample=False, eos_token_id=eos, pad_token_id=eos
            )
        new = out[:, inputs["input_ids"].shape[1] :]
        texts = processor.tokenizer.batch_decode(new, skip_special_tokens=True)
        answers.extend(normalize_answer(t) for t in texts)
    return answers
