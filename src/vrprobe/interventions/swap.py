"""Replace decoder layers [start, stop) of one model with those of another checkpoint.

The donor's layer modules are put into the recipient's `ModuleList` for the duration and the
originals put back on exit; architectures must match layer by layer (class, parameter and
buffer names, shapes, dtypes), otherwise a `LayerSwapError` names the first difference.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn

from vrprobe.models.roles import model_roles


class LayerSwapError(ValueError):
    """The donor's layers do not fit the recipient (architecture or range)."""


def _signature(module: nn.Module) -> dict[str, tuple]:
    tensors = {**dict(module.named_parameters()), **dict(module.named_buffers())}
    return {n: (tuple(t.shape), t.dtype, t.device.type) for n, t in tensors.items()}


def check_swappable(model: nn.Module, donor: nn.Module, start: int, stop: int) -> None:
    """Raise `LayerSwapError` unless layers [start, stop) of `donor` can replace `model`'s."""
    mine, theirs = model_roles(model).layers, model_roles(donor).layers
    if len(mine) != len(theirs):
        raise LayerSwapError(
            f"mismatched architecture: model has {len(mine)} decoder layers, donor {len(theirs)}"
        )
    if not 0 <= start < stop <= len(mine):
        raise LayerSwapError(f"layer range [{start}, {stop}) not within [0, {len(mine)}]")
    for i in range(start, stop):
        a, b = mine[i], theirs[i]
        if type(a) is not type(b):
            raise LayerSwapError(f"mismatched architecture at layer {i}: {type(a).__name__} vs "
                                 f"{type(b).__name__}")  # fmt: skip
        sa, sb = _signature(a), _signature(b)
        if sa != sb:
            diff = sorted(set(sa) ^ set(sb)) or [n for n in sa if sa[n] != sb[n]]
            name = diff[0]
            raise LayerSwapError(
                f"mismatched shapes at layer {i}, tensor {name!r}: model "
                f"{sa.get(name, 'missing')} vs donor {sb.get(name, 'missing')}"
            )


@contextmanager
def replace_layers(model: nn.Module, donor: nn.Module, start: int, stop: int) -> Iterator[None]:
    """Run `model` with decoder layers [start, stop) taken from `donor` (same architecture)."""
    check_swappable(model, donor, start, stop)
    layers, theirs = model_roles(model).layers, model_roles(donor).layers
    originals = [layers[i] for i in range(start, stop)]
    try:
        for i in range(start, stop):
            layers[i] = theirs[i]
        yield
    finally:
        for i, module in zip(range(start, stop), originals, strict=True):
            layers[i] = module
