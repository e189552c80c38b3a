"""Patch the residual stream entering chosen decoder layers from a counterfactual input.

`record_inputs` runs the counterfactual prompt once and keeps `h_l` (the hidden states entering
layer l) at every prompt position; `patch_inputs` then replaces, in the prefill of the real
prompt, those layers' inputs by the recorded ones at `positions` (default: all; `vrprobe
intervene` patches the image-token positions), token index aligned (the two prompts must have
the same length). Decoding steps run unpatched on the resulting cache. Patching every layer
makes every layer's keys and values the counterfactual's, so the answer is the
counterfactual's; patching the image positions of layers [i, j) asks how much of the image's
information has already moved into the text positions by layer i. Counterfactual images come
from the perturbations: `vrprobe.perturb.blur.blank_image` and `blur_image`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

import torch
from torch import nn

from vrprobe.models.roles import model_roles


def _hidden(args: tuple, kwargs: dict) -> torch.Tensor:
    return args[0] if args else kwargs["hidden_states"]


def _replace(args: tuple, kwargs: dict, value: torch.Tensor) -> tuple[tuple, dict]:
    if args:
        return (value, *args[1:]), kwargs
    return args, {**kwargs, "hidden_states": value}


def record_inputs(model: nn.Module, inputs: dict, layers: Sequence[int]) -> dict[int, torch.Tensor]:
    """Hidden states entering each of `layers` for one forward pass of `inputs`."""
    modules = model_roles(model).layers
    kept: dict[int, torch.Tensor] = {}
    with ExitStack() as stack:
        for layer in layers:

            def hook(_m: nn.Module, args: tuple, kwargs: dict, layer: int = layer) -> None:
                kept.setdefault(layer, _hidden(args, kwargs).detach().clone())

            handle = modules[layer].register_forward_pre_hook(hook, with_kwargs=True)
            stack.callback(handle.remove)
        with torch.inference_mode():
            model(**inputs)
    return kept


@contextmanager
def patch_inputs(
    model: nn.Module, recorded: dict[int, torch.Tensor], positions: torch.Tensor | None = None
) -> Iterator[None]:
    """Replace the prefill inputs of the recorded layers by `recorded` at `positions` (sequence
    indices; None = all), see the module doc."""
    modules = model_roles(model).layers
    bad = [layer for layer in recorded if not 0 <= layer < len(modules)]
    if bad:
        raise ValueError(f"layers {bad} out of range: the model has {len(modules)} layers")
    with ExitStack() as stack:
        for layer, value in recorded.items():

            def hook(_m: nn.Module, args: tuple, kwargs: dict, value: Any = value) -> Any:
                h = _hidden(args, kwargs)
                if h.shape[1] == 1 and value.shape[1] != 1:
                    return None  # a decoding step: nothing to align with
                if h.shape != value.shape:
                    raise ValueError(
                        f"counterfactual prompt has shape {tuple(value.shape)}, real prompt "
                        f"{tuple(h.shape)}: positions cannot be aligned by token index"
                    )
                if positions is None:
                    return _replace(args, kwargs, value.to(h.dtype))
                mixed = h.clone()
                mixed[:, positions] = value[:, positions].to(h.dtype)
                return _replace(args, kwargs, mixed)

            handle = modules[layer].register_forward_pre_hook(hook, with_kwargs=True)
            stack.callback(handle.remove)
        yield
