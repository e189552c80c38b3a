"""Offline byte-level tokenizers with a family's special tokens, for tiny test models.

A byte-level BPE with the 256 byte symbols and no merges plus named special tokens works for
every family (FAMILIES.md, "Offline tokenizer"); only the special tokens differ.
"""

from __future__ import annotations

from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast


def special_byte_tokenizer(
    specials: tuple[str, ...],
    *,
    pad: str,
    bos: str,
    eos: str,
    named: dict[str, str] | None = None,
) -> PreTrainedTokenizerFast:
    """Byte-level BPE (no merges): ``specials`` get ids 0.. in order, then the 256 bytes.

    ``named`` maps extra special-token names (``image_token``, ``boi_token``...) to strings.

    >>> tok = special_byte_tokenizer(("<pad>", "<s>", "</s>", "<img>"), pad="<pad>", bos="<s>",
    ...                              eos="</s>", named={"image_token": "<img>"})
    >>> tok.image_token_id, tok("<img>a", add_special_tokens=False)["input_ids"][0]
    (3, 3)
    """
    vocab = {tok: i for i, tok in enumerate(specials)}
    for symbol in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab.setdefault(symbol, len(vocab))
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token=pad,
        bos_token=bos,
        eos_token=eos,
        extra_special_tokens=dict(named or {}),
    )
    # every listed special is one token, never split into bytes
    tok.add_special_tokens({"additional_special_tokens": [s for s in specials if s not in
                                                           (pad, bos, eos)]})  # fmt: skip
    return tok
