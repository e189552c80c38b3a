"""Zero hidden dimensions at a decoder layer's output, or attention heads before `o_proj`.

Both are forward hooks that remove themselves on exit; no weight is touched.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from vrprobe.models.roles import model_roles


def check_layer(model: nn.Module, layer: int) -> nn.Module:
    """The decoder layer `layer` of `model`, or a ValueError naming the valid range."""
    layers = model_roles(model).layers
    if not 0 <= layer < len(layers):
        raise ValueError(f"layer {layer} out of range: the model has {len(layers)} decoder layers")
    return layers[layer]


def _dims_tensor(dims: Sequence[int], width: int, device: torch.device) -> torch.Tensor:
    idx = torch.as_tensor(list(dims), dtype=torch.long)
    if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= width):
        raise ValueError(f"dims must lie in [0, {width}), got min {int(idx.min())} max "
                         f"{int(idx.max())}")  # fmt: skip
    return idx.to(device)


@contextmanager
def zero_dims(model: nn.Module, layer: int, dims: Sequence[int]) -> Iterator[None]:
    """Zero hidden dimensions `dims` of decoder layer `layer`'s output (every position).

    >>> from vrprobe.models.tiny import tiny_llava
    >>> model = tiny_llava()[0]
    >>> with zero_dims(model, 1, [0, 5]):
    ...     len(model_roles(model).layers[1]._forward_hooks)
    1
    >>> len(model_roles(model).layers[1]._forward_hooks)
    0
    """
    module = check_layer(model, layer)
    width = model_roles(model).hidden_size
    idx = _dims_tensor(dims, width, next(model.parameters()).device)

    def hook(_mod: nn.Module, _args: Any, output: Any) -> Any:
        hidden = output[0] if isinstance(output, tuple) else output
        hidden = hidden.clone()
        hidden[..., idx] = 0
        return (hidden, *output[1:]) if isinstance(output, tuple) else hidden

    handle = module.register_forward_hook(hook) if len(idx) else None
    try:
        yield
    finally:
        if handle is not None:
            handle.remove()


def head_geometry(model: nn.Module) -> tuple[int, int]:
    """(number of query heads, head dimension) of the text decoder."""
    config = model.config
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    heads = int(text.num_attention_heads)
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // heads
    return heads, int(head_dim)


@contextmanager
def ablate_heads(model: nn.Module, layer: int, heads: Sequence[int]) -> Iterator[None]:
    """Zero the outputs of attention heads `heads` of decoder layer `layer` before `o_proj`,
    so they contribute nothing to the residual stream (`o_proj` bias, if any, stays)."""
    module = check_layer(model, layer)
    attn = getattr(module, "self_attn", None)
    o_proj = getattr(attn, "o_proj", None)
    if not isinstance(o_proj, nn.Module):
        raise ValueError(f"decoder layer {layer} ({type(module).__name__}) has no self_attn.o_proj")
    n_heads, head_dim = head_geometry(model)
    bad = [h for h in heads if not 0 <= h < n_heads]
    if bad:
        raise ValueError(f"heads {bad} out of range: layer {layer} has {n_heads} heads")
    cols = [h * head_dim + j for h in sorted(set(heads)) for j in range(head_dim)]
    idx = torch.as_tensor(cols, dtype=torch.long, device=next(model.parameters()).device)

    def hook(_mod: nn.Module, args: tuple) -> tuple:
        x = args[0].clone()
        x[..., idx] = 0
        return (x, *args[1:])

    handle = o_proj.register_forward_pre_hook(hook) if cols else None
    try:
        yield
    finally:
        if handle is not None:
            handle.remove()
